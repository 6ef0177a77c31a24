package edge

import (
	"encoding/binary"

	"github.com/switchboard-rt/switchboard/bus"
	"github.com/switchboard-rt/switchboard/protocol"
)

// maxHeader is the largest server-to-client WebSocket frame header: server
// frames are never masked, so 2 bytes plus at most 8 of extended length.
const maxHeader = 10

const (
	opText  = 0x1
	opClose = 0x8
	opPong  = 0xA
)

// frameBuf returns a buffer with room for a frame header in front, so a
// payload can be appended and framed without a second allocation.
func frameBuf(payloadHint int) []byte {
	return make([]byte, maxHeader, maxHeader+payloadHint)
}

// seal writes the header for the payload that follows the reserved room in
// b and returns the whole frame.
func seal(b []byte, opcode byte) []byte {
	n := len(b) - maxHeader
	var h int
	switch {
	case n < 126:
		h = 2
		b[maxHeader-1] = byte(n)
	case n <= 0xFFFF:
		h = 4
		b[maxHeader-3] = 126
		binary.BigEndian.PutUint16(b[maxHeader-2:], uint16(n))
	default:
		h = 10
		b[maxHeader-9] = 127
		binary.BigEndian.PutUint64(b[maxHeader-8:], uint64(n))
	}
	b[maxHeader-h] = 0x80 | opcode // FIN
	return b[maxHeader-h:]
}

// textFrame frames a ready JSON payload as one WebSocket text frame.
func textFrame(payload []byte) []byte {
	b := append(frameBuf(len(payload)), payload...)
	return seal(b, opText)
}

// eventFrame encodes a channel event once, framed and ready to queue on any
// number of sockets.
func eventFrame(event, channel string, data []byte, userID string) []byte {
	b := frameBuf(len(event) + len(channel) + len(data) + len(userID) + 48)
	b = protocol.AppendEvent(b, event, channel, data, userID)
	return seal(b, opText)
}

// messageFrame is the frame of a bus event, with its channel position
// when it has one and positioned is set.
func messageFrame(msg *bus.Message, positioned bool) []byte {
	if msg.Seq == 0 || !positioned {
		return eventFrame(msg.Event, msg.Channel, msg.Data, msg.UserID)
	}
	b := frameBuf(len(msg.Event) + len(msg.Channel) + len(msg.Data) + len(msg.UserID) + len(msg.Epoch) + 80)
	b = protocol.AppendEvent(b, msg.Event, msg.Channel, msg.Data, msg.UserID)
	b = protocol.AppendPosition(b, msg.Seq, msg.Epoch)
	return seal(b, opText)
}

// stringEventFrame is eventFrame for data given as text to be sent as a
// JSON string (the form of internal events).
func stringEventFrame(event, channel, data string) []byte {
	b := frameBuf(len(event) + len(channel) + len(data) + 48)
	b = protocol.AppendStringEvent(b, event, channel, data)
	return seal(b, opText)
}

// Prebuilt frames sent to many sockets.
var (
	pongFrame = textFrame(protocol.PongFrame)
	pingFrame = textFrame(protocol.PingFrame)

	slowConsumerFrame = textFrame(protocol.ErrorFrame(protocol.ErrSlowConsumer))
)
