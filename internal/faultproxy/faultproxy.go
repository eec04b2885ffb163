// Package faultproxy is a reverse proxy on 127.0.0.1 in front of a real server. It answers a
// chosen number of requests with an error status, for example 403
// AuthorizationPermissionMismatch as Azure Storage returns while a new role assignment
// propagates, and forwards all others, optionally after a delay that models a network round
// trip. Tests put it between a client and Azurite to exercise retries without mocking the
// SDK, and the benchmark uses the delay to compare loops on a link slower than loopback.
package faultproxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the proxy's base URL, for example http://127.0.0.1:41234.
	URL string

	server   *http.Server
	listener net.Listener

	mu        sync.Mutex
	remaining int
	status    int
	code      string

	injected  atomic.Int64
	forwarded atomic.Int64
	delay     atomic.Int64 // time.Duration
}

// Start listens on a free loopback port and forwards to target, a base URL such as
// http://127.0.0.1:10001.
func Start(target string) (*Proxy, error) {
	targetURL, err := url.Parse(target)
	if err != nil || targetURL.Host == "" {
		return nil, fmt.Errorf("invalid proxy target %q: use a base URL such as http://127.0.0.1:10001", target)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the fault proxy: %w", err)
	}

	p := &Proxy{URL: "http://" + listener.Addr().String(), listener: listener}
	forward := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targetURL)
		},
	}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, code, ok := p.takeFault(); ok {
			p.injected.Add(1)
			w.Header().Set("x-ms-error-code", code)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>injected by faultproxy</Message></Error>`, code)
			return
		}
		p.forwarded.Add(1)
		if delay := time.Duration(p.delay.Load()); delay > 0 {
			time.Sleep(delay)
		}
		forward.ServeHTTP(w, r)
	})}
	go func() { _ = p.server.Serve(listener) }()
	return p, nil
}

// FailNext makes the next n requests fail with status and the storage error code code.
func (p *Proxy) FailNext(n, status int, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.remaining = n
	p.status = status
	p.code = code
}

func (p *Proxy) takeFault() (int, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remaining <= 0 {
		return 0, "", false
	}
	p.remaining--
	return p.status, p.code, true
}

// SetDelay holds every forwarded request for d before sending it on.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Injected returns how many requests got an injected failure.
func (p *Proxy) Injected() int64 { return p.injected.Load() }

// Forwarded returns how many requests reached the target.
func (p *Proxy) Forwarded() int64 { return p.forwarded.Load() }

// Close stops the proxy.
func (p *Proxy) Close() error { return p.server.Close() }
