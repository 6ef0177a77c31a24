package redisbus

var (
	Encode = encode
	Decode = decode
)

var KeySlot = keySlot
