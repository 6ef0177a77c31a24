package redisbus

var (
	Encode = encode
	Decode = decode
)
