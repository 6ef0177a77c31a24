package stripebilling

import "time"

// SetNow replaces b's clock, for tests of the grace period.
func SetNow(b *Billing, now func() time.Time) { b.now = now }
