package bridge

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mailbridge/mailbridge/sender"
)

// connLimitFor is how long a limit learnt from the smart host holds; then
// mailbridge tries its configured number of connections again, since the
// smart host's limit may have been raised, or been reached only with other
// clients' connections. Relearning costs one refused connection, and no
// message waits for it.
const connLimitFor = 10 * time.Minute

// connSlots counts the workers that hold a connection to the smart host
// (open, or being opened for an attempt), and holds them under the limit
// on connections from one client that the smart host showed by refusing
// one as too many (postfix's smtpd_client_connection_count_limit, 421
// "too many connections"; Exchange's 421 4.3.2 "maximum number of
// concurrent connections"). Without it each message over the limit was
// deferred a whole retry interval (IIS: 15 minutes, then 30 ...), while
// the connection that worked could have carried it at once: found from
// outside, 12 messages, a limit of 1 and 4 connections sent 1 at once and
// 3 at the first retry. postfix lowers its concurrency on such refusals in
// the same way.
type connSlots struct {
	mu     sync.Mutex
	held   int           // workers holding a connection
	limit  int           // learnt limit; 0: none (the configured number)
	until  time.Time     // when the learnt limit lapses
	warned int           // the last limit said at WARN
	change chan struct{} // closed and made anew when a slot frees or the limit lapses
}

func newConnSlots() *connSlots {
	return &connSlots{change: make(chan struct{})}
}

// take counts a worker that is about to open a connection, unless the
// learnt limit is reached; ok false means it should not connect now (see
// wait).
func (c *connSlots) take(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lapse(now)
	if c.limit > 0 && c.held >= c.limit {
		return false
	}
	c.held++
	return true
}

// release uncounts a worker whose connection is closed.
func (c *connSlots) release() {
	c.mu.Lock()
	c.held--
	c.signal()
	c.mu.Unlock()
}

// refused records that the smart host refused a connection as one too
// many. If other workers held connections then, their number is the smart
// host's limit, learnt for connLimitFor, and learnt reports true: the
// message was not tried, and goes over one of those connections rather
// than waiting for a retry. Workers still opening theirs count too: they
// may be refused as well, so the limit learnt can be too high at first,
// and the lowest seen is kept; each refusal that follows lowers it, costs
// a connection and no message a retry, until one worker alone is refused
// (other clients hold the smart host's connections), whose message waits
// for its retry like any other refusal.
func (c *connSlots) refused(now time.Time) (limit int, learnt, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	others := c.held - 1
	if others < 1 {
		return 0, false, false
	}
	c.lapse(now)
	if c.limit == 0 || others < c.limit {
		c.limit = others
	}
	c.until = now.Add(connLimitFor)
	first = c.warned == 0 || c.limit < c.warned
	if first {
		c.warned = c.limit
	}
	return c.limit, true, first
}

// lapse forgets a learnt limit whose time is up. It runs with c.mu held.
func (c *connSlots) lapse(now time.Time) {
	if c.limit > 0 && !now.Before(c.until) {
		c.limit = 0
		c.signal()
	}
}

// signal wakes the waiting workers. It runs with c.mu held.
func (c *connSlots) signal() {
	close(c.change)
	c.change = make(chan struct{})
}

// wait blocks until a slot may be free: a worker released one, or the
// learnt limit lapsed. It returns false when ctx is done.
func (c *connSlots) wait(ctx context.Context) bool {
	c.mu.Lock()
	ch := c.change
	left := time.Until(c.until)
	c.mu.Unlock()
	t := time.NewTimer(max(left, time.Millisecond))
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// oneTooMany reports whether an attempt was refused only because its
// connection was one too many for the smart host while others of ours were
// open (connSlots.refused): the attempt does not count, and the message is
// due again at once, for an open connection to take.
func (b *Bridge) oneTooMany(id string, results []sender.Result, now time.Time) bool {
	if len(results) == 0 {
		return false
	}
	for _, r := range results {
		if r.Err == nil || !r.Err.ConnectionLimit {
			return false
		}
	}
	limit, learnt, first := b.slots.refused(now)
	if !learnt {
		return false
	}
	args := []any{"server", b.cfg.Sender.Addr(), "connections", limit, "for", connLimitFor, "reply", results[0].Err.ReplyLine()}
	if first {
		b.log.Warn(fmt.Sprintf("the Outbound Server refused a connection as one too many while %d of mailbridge's were open: mailbridge keeps to %d for a while, and the messages go over those; set [outbound] connections = %d to stop these refusals", limit, limit, limit), args...)
	}
	b.log.Info("delivery not tried: the Outbound Server refused the connection as one too many; the message goes over an open one", "id", id, "server", b.cfg.Sender.Addr(), "result", "handed over")
	return true
}
