package zkstore

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultRoot is the root node used when a connect string names none.
const DefaultRoot = "/mrredis"

// ParseConnect parses a connect string "h1:p1,h2:p2/chroot" into servers
// and the root path. The root defaults to DefaultRoot; a server without a
// port gets ZooKeeper's 2181.
func ParseConnect(s string) (servers []string, root string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, "", fmt.Errorf("zookeeper connect string is empty: use host:port[,host:port...][/root]")
	}
	hosts, root := s, DefaultRoot
	if i := strings.Index(s, "/"); i >= 0 {
		hosts, root = s[:i], s[i:]
		if err := validateRoot(root); err != nil {
			return nil, "", fmt.Errorf("zookeeper connect string %q: %w", s, err)
		}
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, "", fmt.Errorf("zookeeper connect string %q: empty server address", s)
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			// A bare host (no colon) gets the default port.
			if strings.Contains(h, ":") {
				return nil, "", fmt.Errorf("zookeeper connect string %q: server %q: use host:port", s, h)
			}
			host, port = h, "2181"
		}
		if host == "" {
			return nil, "", fmt.Errorf("zookeeper connect string %q: server %q has no host", s, h)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, "", fmt.Errorf("zookeeper connect string %q: server %q: port must be 1-65535", s, h)
		}
		servers = append(servers, net.JoinHostPort(host, port))
	}
	return servers, root, nil
}

// validateRoot checks that root is an absolute ZooKeeper path other than
// "/" itself, without empty, "." or ".." components.
func validateRoot(root string) error {
	if root == "/" || root == "" {
		return fmt.Errorf("root %q is invalid: name a node such as /mrredis", root)
	}
	if !strings.HasPrefix(root, "/") || strings.HasSuffix(root, "/") {
		return fmt.Errorf("root %q is invalid: use an absolute path without a trailing slash", root)
	}
	for _, part := range strings.Split(root[1:], "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("root %q is invalid: empty, \".\" or \"..\" path component", root)
		}
		if strings.ContainsAny(part, "\x00") {
			return fmt.Errorf("root %q is invalid: contains a NUL character", root)
		}
	}
	return nil
}
