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

// settleWait bounds how long a refused worker waits for the others still
// opening their connections before it counts the open ones (refused): a
// greeting takes milliseconds, and a smart host that takes longer is
// counted as it stands.
const settleWait = 2 * time.Second

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
	held   int       // workers holding a connection
	limit  int       // learnt limit; 0: none (the configured number)
	until  time.Time // when the learnt limit lapses
	warned int       // the last limit said at WARN
	// sessions are every worker's (refused counts the open ones), and
	// refusing the workers inside refused.
	sessions []*sender.Session
	refusing int
	change   chan struct{} // closed and made anew when a slot frees or the limit lapses
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

// refused records that the smart host refused self's connection as one
// too many. Its limit is the number of our other connections open then
// (past their greeting): first the workers still opening theirs are waited
// for (up to settleWait), since they may be refused too, or get in; found
// from outside, counting them had the first advice say 3 against a limit
// of 1. If any were open, the limit is learnt for connLimitFor (the lowest,
// should refusals say less), learnt reports true, and the message was not
// tried: it goes over one of those connections rather than waiting for a
// retry. With none open, other clients hold the smart host's connections,
// and the message waits for its retry like any other refusal. first
// reports that this limit was not said before (see connSlots.warned).
func (c *connSlots) refused(self *sender.Session, now time.Time) (limit int, learnt, first bool) {
	c.mu.Lock()
	c.refusing++
	c.mu.Unlock()
	deadline := time.Now().Add(settleWait)
	for {
		c.mu.Lock()
		open := 0
		for _, s := range c.sessions {
			if s != self && s.Open() {
				open++
			}
		}
		// Workers with a slot are open, opening, or refused (in here).
		if opening := c.held - open - c.refusing; opening > 0 && time.Now().Before(deadline) {
			c.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		defer c.mu.Unlock()
		c.refusing--
		if open < 1 {
			return 0, false, false
		}
		c.lapse(now)
		if c.limit == 0 || open < c.limit {
			c.limit = open
		}
		c.until = now.Add(connLimitFor)
		first = c.warned == 0 || c.limit < c.warned
		if first {
			c.warned = c.limit
		}
		return c.limit, true, first
	}
}

// othersOpen reports whether a session other than self has its
// connection open.
func (c *connSlots) othersOpen(self *sender.Session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sessions {
		if s != self && s.Open() {
			return true
		}
	}
	return false
}

// add registers a worker's session, for refused to count.
func (c *connSlots) add(s *sender.Session) {
	c.mu.Lock()
	c.sessions = append(c.sessions, s)
	c.mu.Unlock()
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
func (b *Bridge) oneTooMany(s *sender.Session, id string, results []sender.Result, now time.Time) bool {
	if len(results) == 0 {
		return false
	}
	for _, r := range results {
		if r.Err == nil || !r.Err.ConnectionLimit {
			return false
		}
	}
	limit, learnt, first := b.slots.refused(s, now)
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
