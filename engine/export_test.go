package engine

// Test helpers exported to the external tests and benchmarks (package engine_test), which use
// enginetest's fakes and so cannot live in this package.
var (
	NewTestInstance = testInstance
	TicketPage      = ticketPage
	TicketJSON      = ticketJSON
)
