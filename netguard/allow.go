package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultAllow lets a local Ollama through at its usual address, so a laptop
// install works without any setting.
const DefaultAllow = "127.0.0.1:11434,localhost:11434"

// AllowList is the administrator's list of addresses a provider call may
// reach although they are internal: host names, host:port pairs, IP
// addresses, IP:port pairs and CIDR ranges.
type AllowList struct {
	names     map[string]bool // "host" (any port) or "host:port", lower case
	addrs     map[netip.Addr]bool
	addrPorts map[netip.AddrPort]bool
	prefixes  []netip.Prefix
}

// ParseAllowList reads a comma-separated list such as
// "192.168.1.20:4000,gateway.lan,10.0.0.0/8"; empty entries are skipped.
func ParseAllowList(spec string) (*AllowList, error) {
	a := &AllowList{names: map[string]bool{}, addrs: map[netip.Addr]bool{}, addrPorts: map[netip.AddrPort]bool{}}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.ToLower(strings.TrimSpace(entry))
		if entry == "" {
			continue
		}
		if err := a.add(entry); err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
	}
	return a, nil
}

func (a *AllowList) add(entry string) error {
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return fmt.Errorf("not a CIDR range such as 192.168.1.0/24")
		}
		a.prefixes = append(a.prefixes, p.Masked())
		return nil
	}
	if ip, err := netip.ParseAddr(entry); err == nil {
		a.addrs[ip.Unmap()] = true
		return nil
	}
	host, port := entry, ""
	if h, p, err := net.SplitHostPort(entry); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		a.addrPorts[netip.AddrPortFrom(ip.Unmap(), mustPort(port))] = true
		return nil
	}
	if !validName(host) {
		return fmt.Errorf("not a host, host:port, IP address or CIDR range")
	}
	a.names[net.JoinHostPort(host, port)] = true
	return nil
}

// allowsName reports whether the administrator allowed a host name, at this
// port or at any; every address the name resolves to is then accepted.
func (a *AllowList) allowsName(host, port string) bool {
	host = strings.ToLower(host)
	return a.names[net.JoinHostPort(host, "")] || a.names[net.JoinHostPort(host, port)]
}

// allowsAddr reports whether the administrator allowed an address.
func (a *AllowList) allowsAddr(ap netip.AddrPort) bool {
	ip := ap.Addr().Unmap()
	if a.addrs[ip] || a.addrPorts[netip.AddrPortFrom(ip, ap.Port())] {
		return true
	}
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func mustPort(p string) uint16 {
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

// validName accepts DNS names made of letters, digits, hyphens and dots
// whose last label is not numeric (that would be an address in disguise).
func validName(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 || numericHost(host) {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
