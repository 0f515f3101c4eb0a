package dns

// The helpers of helpers_test.go, for the tests of package dns_test,
// which run a real API server: that package may import the server (which
// imports this one through the node agent); package dns may not.
var (
	TestLog           = testLog
	StartDNS          = startDNS
	Ask               = ask
	Exchange          = exchange
	Answers           = answers
	EventuallyAnswers = eventuallyAnswers
	StartUpstream     = startUpstream
	ARecords          = aRecords
	BindPair          = bindPair
)

type FakeUpstream = fakeUpstream

// Addr is the upstream's address; TCPQueries counts the queries it got
// over TCP.
func (u *fakeUpstream) Addr() string      { return u.addr }
func (u *fakeUpstream) TCPQueries() int64 { return u.tcpCount.Load() }
