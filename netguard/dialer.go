// Package netguard dials only the addresses a provider call may reach: the
// public internet and whatever the administrator allowed. Every call to a
// URL a person typed goes through it, so a base URL can reach neither
// studio's own machine (other projects' dev servers, a Docker API) nor the
// private network nor a cloud metadata service.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is what every refusal matches with errors.Is.
var ErrBlocked = errors.New("this address is not allowed")

// BlockedError is a refused address and why it was refused.
type BlockedError struct {
	Addr   string // what was asked for, host:port
	IP     string // the address it resolved to, when that differs
	Reason string // "a loopback address", …
}

func (e *BlockedError) Error() string {
	what := e.Addr
	if e.IP != "" {
		what += " (" + e.IP + ")"
	}
	return fmt.Sprintf("%s is %s: this address is not allowed (ask the administrator to add it to STUDIO_PROVIDER_ALLOW)", what, e.Reason)
}

func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer connects to public addresses and to those its AllowList names.
type Dialer struct {
	Allow    *AllowList
	Resolver Resolver
	Timeout  time.Duration // per connection attempt

	connecting func(netip.AddrPort) // tests count connections that passed every check
}

// NewDialer returns a Dialer using the system resolver.
func NewDialer(allow *AllowList) *Dialer {
	if allow == nil {
		allow = &AllowList{}
	}
	return &Dialer{Allow: allow, Resolver: net.DefaultResolver, Timeout: 10 * time.Second}
}

// DialContext resolves address itself, refuses it if any of its addresses
// is internal and not allowed, and connects to the addresses it checked. The
// socket's address is checked once more right before connecting.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("netguard: network %q is not supported", network)
	}
	ips, portNum, nameAllowed, err := d.vet(ctx, address)
	if err != nil {
		return nil, err
	}
	dialer := net.Dialer{Timeout: d.Timeout, ControlContext: d.control(nameAllowed)}
	var errs []error
	for _, ip := range ips {
		conn, err := dialer.DialContext(ctx, network, netip.AddrPortFrom(ip, portNum).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Check resolves address (host:port) and says whether DialContext would
// try to connect to it, without connecting: nil, a *BlockedError, or a
// resolution error.
func (d *Dialer) Check(ctx context.Context, address string) error {
	_, _, _, err := d.vet(ctx, address)
	return err
}

// vet resolves address and refuses it if any of its addresses may not be
// reached; otherwise it returns the addresses to try.
func (d *Dialer) vet(ctx context.Context, address string) (ips []netip.Addr, port uint16, nameAllowed bool, err error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, 0, false, err
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	ips, nameAllowed, err = d.resolve(ctx, host, portText)
	if err != nil {
		return nil, 0, false, err
	}
	port = mustPort(portText)
	for _, ip := range ips {
		if reason := d.refusal(netip.AddrPortFrom(ip, port), nameAllowed); reason != "" {
			return nil, 0, false, blocked(host, portText, ip, reason)
		}
	}
	return ips, port, nameAllowed, nil
}

// resolve returns the addresses to try; an IP literal is its own answer,
// and a host that only looks like a name but ends in a number is refused.
func (d *Dialer) resolve(ctx context.Context, host, port string) ([]netip.Addr, bool, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, false, nil
	}
	if numericHost(host) {
		return nil, false, &BlockedError{Addr: net.JoinHostPort(host, port), Reason: "an IP address written in a non-standard form"}
	}
	found, err := d.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, false, err
	}
	if len(found) == 0 {
		return nil, false, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	ips := make([]netip.Addr, len(found))
	for i, ip := range found {
		ips[i] = ip.Unmap()
	}
	return ips, d.Allow.allowsName(host, port), nil
}

// refusal says why an address may not be reached, or "" when it may.
func (d *Dialer) refusal(ap netip.AddrPort, nameAllowed bool) string {
	if nameAllowed || d.Allow.allowsAddr(ap) {
		return ""
	}
	return internal(ap.Addr())
}

// control checks the address a socket is about to connect to, after every
// resolution, so no later answer of a rebinding name can slip through.
func (d *Dialer) control(nameAllowed bool) func(context.Context, string, string, syscall.RawConn) error {
	return func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("netguard: unexpected socket address %q", address)
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if reason := d.refusal(ap, nameAllowed); reason != "" {
			return &BlockedError{Addr: ap.String(), Reason: reason}
		}
		if d.connecting != nil {
			d.connecting(ap)
		}
		return nil
	}
}

func blocked(host, port string, ip netip.Addr, reason string) *BlockedError {
	e := &BlockedError{Addr: net.JoinHostPort(host, port), Reason: reason}
	if ip.String() != host {
		e.IP = ip.String()
	}
	return e
}
