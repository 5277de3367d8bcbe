package netguard

import (
	"net/netip"
	"strings"
)

// rule names a range of addresses a provider call must not reach unless the
// administrator allows it. Narrow rules come before the ranges holding them.
type rule struct {
	prefix netip.Prefix
	reason string
}

var rules = func() []rule {
	table := []struct{ cidr, reason string }{
		{"169.254.169.254/32", "a cloud metadata address"},
		{"fd00:ec2::254/128", "a cloud metadata address"},
		{"255.255.255.255/32", "the broadcast address"},
		{"0.0.0.0/8", "an unspecified address"},
		{"10.0.0.0/8", "a private address"},
		{"100.64.0.0/10", "a shared (carrier-grade NAT) address"},
		{"127.0.0.0/8", "a loopback address"},
		{"169.254.0.0/16", "a link-local address"},
		{"172.16.0.0/12", "a private address"},
		{"192.0.0.0/24", "a reserved address"},
		{"192.0.2.0/24", "a reserved address"},
		{"192.168.0.0/16", "a private address"},
		{"198.18.0.0/15", "a reserved address"},
		{"198.51.100.0/24", "a reserved address"},
		{"203.0.113.0/24", "a reserved address"},
		{"224.0.0.0/4", "a multicast address"},
		{"240.0.0.0/4", "a reserved address"},
		{"::/128", "an unspecified address"},
		{"::1/128", "a loopback address"},
		{"::/96", "an IPv4-compatible address"},
		{"64:ff9b:1::/48", "a local NAT64 address"},
		{"100::/64", "a reserved address"},
		{"2001::/32", "a Teredo address"},
		{"2001:db8::/32", "a reserved address"},
		{"fc00::/7", "a private address"},
		{"fe80::/10", "a link-local address"},
		{"fec0::/10", "a site-local address"},
		{"ff00::/8", "a multicast address"},
	}
	out := make([]rule, len(table))
	for i, r := range table {
		out[i] = rule{netip.MustParsePrefix(r.cidr), r.reason}
	}
	return out
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// internal says why an address is off limits, or "" for a public address.
// IPv4 addresses written as IPv6 (mapped, NAT64, 6to4) are judged by the
// IPv4 address they carry.
func internal(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	if embedded, ok := embeddedIPv4(ip); ok {
		return internal(embedded)
	}
	for _, r := range rules {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// numericHost reports whether a host's last label is a number in any base
// (2130706433, 0177.0.0.1, 0x7f.1, 127.1). Browsers and C resolvers read such
// hosts as IPv4 addresses while Go's would send them to DNS; a host that is
// not a canonical dotted quad but ends in a number is refused either way.
func numericHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndex(host, ".")+1:]
	if last == "" {
		return false
	}
	digits := last
	if strings.HasPrefix(digits, "0x") {
		digits = digits[2:]
		return strings.Trim(digits, "0123456789abcdef") == ""
	}
	return strings.Trim(digits, "0123456789") == ""
}
