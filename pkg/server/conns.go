package server

import (
	"net"
	"net/http"
	"sync"
)

// connLimit caps the open connections of a listener below the process's open-file limit, so
// that a flood of connections never leaves the server unable to accept (or to open its own
// files): at the cap it closes an idle keep-alive connection to make room for the new client,
// and without one the new client waits until a connection closes (further clients wait in the
// kernel's backlog meanwhile, which costs no file). Each open connection holds net/http's
// buffers and a goroutine, so the cap bounds their memory too; when a flood is over, the heap
// it used is handed back to the system as after an upload burst.
type connLimit struct {
	net.Listener
	slots  chan struct{}
	closed chan struct{}
	idled  chan struct{} // a connection went idle: an Accept waiting at the cap may close it
	once   sync.Once
	m      *metrics
	name   string // the listener's label in the metrics

	mu   sync.Mutex
	idle map[*limitedConn]struct{}
	peak int // most connections open since memory was last returned

	returnMemory func()
}

// floodConns is how many connections must have been open at once before the heap is returned
// when they are nearly all closed again.
const floodConns = 256

func newConnLimit(ln net.Listener, max int, name string, m *metrics, returnMemory func()) *connLimit {
	m.connLimit.WithLabelValues(name).Set(float64(max))
	return &connLimit{Listener: ln, slots: make(chan struct{}, max), closed: make(chan struct{}), idled: make(chan struct{}, 1),
		m: m, name: name, idle: map[*limitedConn]struct{}{}, returnMemory: returnMemory}
}

// Accept takes a client's connection first, so that idle connections are closed only for a
// client that is really there (this one is then the single connection over the cap, within the
// files kept for the process), and then waits for a place.
func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for taken := false; !taken; {
		select {
		case l.slots <- struct{}{}:
			taken = true
		default:
			l.closeIdle()
			select {
			case l.slots <- struct{}{}:
				taken = true
			case <-l.idled:
			case <-l.closed:
				c.Close()
				return nil, net.ErrClosed
			}
		}
	}
	l.mu.Lock()
	l.peak = max(l.peak, len(l.slots))
	l.mu.Unlock()
	l.m.conns.WithLabelValues(l.name).Inc()
	return &limitedConn{Conn: c, l: l}, nil
}

// Close closes the listener and stops a waiting Accept.
func (l *connLimit) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// closeIdle closes one idle keep-alive connection, if there is one; its client reconnects.
func (l *connLimit) closeIdle() {
	l.mu.Lock()
	var victim *limitedConn
	for c := range l.idle {
		victim = c
		break
	}
	delete(l.idle, victim)
	l.mu.Unlock()
	if victim != nil {
		l.m.connsEvicted.WithLabelValues(l.name).Inc()
		victim.Close()
	}
}

// limitedConn is a connection that holds a place of its listener until it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		l := c.l
		l.mu.Lock()
		delete(l.idle, c)
		<-l.slots
		open := len(l.slots)
		flood := l.peak >= floodConns && open <= l.peak/16
		if flood {
			l.peak = open
		}
		l.mu.Unlock()
		l.m.conns.WithLabelValues(l.name).Dec()
		if flood {
			l.returnMemory()
		}
	})
	return err
}

// CloseWrite keeps the TCP half-close of the connection reachable (see rejectConn).
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// setIdle records whether the connection waits for its next request.
func (c *limitedConn) setIdle(idle bool) {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if idle {
		c.l.idle[c] = struct{}{}
		select {
		case c.l.idled <- struct{}{}:
		default:
		}
	} else {
		delete(c.l.idle, c)
	}
}

// connState is the http.Server's ConnState: the response before an idle state is complete
// (see rejectConn), and idle connections are the first to close at the connection cap.
func connState(c net.Conn, state http.ConnState) {
	rc, ok := c.(*rejectConn)
	if !ok {
		return
	}
	if state == http.StateIdle {
		rc.handling.Store(false)
	}
	if lc, ok := rc.Conn.(*limitedConn); ok {
		lc.setIdle(state == http.StateIdle)
	}
}

// Reserved open files: for the metrics listener's connections, and for the process's own
// (model, logs, the listeners, /proc reads of the process collector, DNS).
const (
	metricsConns = 64
	ownFiles     = 64
)

// connCaps returns the connection caps of the main and the metrics listener for an open-file
// limit of nofile (0 when unknown) and the configured MaxConnections.
func connCaps(nofile uint64, maxConns int, metrics bool) (main, mcap int) {
	main = maxConns
	reserve := uint64(ownFiles)
	if metrics {
		reserve += metricsConns
	}
	if nofile > 0 {
		room := 16 // even under a tiny limit the server must accept something
		if nofile > reserve+16 {
			room = int(min(nofile-reserve, 1<<30))
		}
		main = min(main, room)
	}
	return main, metricsConns
}
