package restapi

// DecodedLen exposes decodedLen to the external tests.
var DecodedLen = decodedLen
