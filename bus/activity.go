package bus

// Activity is one entry of an app's live debug console (package
// activity), carried as the JSON Data of a KindActivity message. It lives
// here so that its producers (edge, cmd's wrappers of the publish path
// and the webhook log) need not import the package that fans it out. It
// never holds a secret: no key secret, signature or auth token is put in
// one.
type Activity struct {
	Time     int64  `json:"time"` // Unix milliseconds; the feed fills it
	Type     string `json:"type"`
	Node     string `json:"node,omitempty"` // the node it happened on; the feed fills it
	SocketID string `json:"socket_id,omitempty"`
	Channel  string `json:"channel,omitempty"`
	Event    string `json:"event,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	// Data is the event's data as sent (raw JSON text), cut at
	// MaxActivityData.
	Data      string `json:"data,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	// Detail is a short human text: a webhook's URL and result, a
	// connection's origin.
	Detail string `json:"detail,omitempty"`
	Count  int64  `json:"count,omitempty"`
}

// MaxActivityData is the most of an event's data an Activity carries:
// the console is for looking, and a 10 KB payload per line only slows it.
const MaxActivityData = 2048
