package mesoslocal

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// fetchURI does what the Mesos fetcher does for one CommandInfo.URI: it
// downloads (http, https) or copies (local path, file://) the URI into the
// sandbox dir, makes it executable or extracts a .tar.gz/.tgz/.tar.
func fetchURI(ctx context.Context, u mesos.CommandInfo_URI, dir string) error {
	name := u.GetOutputFile()
	if name == "" {
		name = path.Base(strings.SplitN(u.Value, "?", 2)[0])
	}
	if name == "" || name == "/" || name == "." {
		return fmt.Errorf("cannot derive a file name from URI %q", u.Value)
	}
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	local := ""
	switch {
	case strings.HasPrefix(u.Value, "http://") || strings.HasPrefix(u.Value, "https://"):
		tmp := filepath.Join(dir, ".fetch-"+filepath.Base(name))
		if err := download(ctx, u.Value, tmp); err != nil {
			return err
		}
		defer os.Remove(tmp)
		local = tmp
	case strings.HasPrefix(u.Value, "file://"):
		p, err := url.Parse(u.Value)
		if err != nil {
			return err
		}
		local = p.Path
	case strings.Contains(u.Value, "://"):
		return fmt.Errorf("unsupported URI scheme in %q: mesoslocal fetches http, https, file and local paths", u.Value)
	default:
		local = u.Value
	}
	if _, err := os.Stat(local); err != nil {
		return err
	}
	// cp, not a copy in this process: a file this process holds open for
	// writing leaks into children forked meanwhile, and exec of it then
	// fails with "text file busy".
	if out, err := exec.CommandContext(ctx, "cp", local, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s to the sandbox: %v: %s", local, err, strings.TrimSpace(string(out)))
	}
	if err := os.Chmod(dst, mode); err != nil {
		return err
	}
	extract := u.Extract == nil || *u.Extract
	if u.GetExecutable() || !extract {
		return nil
	}
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"):
		return extractTar(dst, dir, true)
	case strings.HasSuffix(lower, ".tar"):
		return extractTar(dst, dir, false)
	}
	return nil
}

func extractTar(archive, dir string, gz bool) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("extract %s: %w", archive, err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	root := filepath.Clean(dir) + string(os.PathSeparator)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", archive, err)
		}
		target := filepath.Join(dir, h.Name)
		if !strings.HasPrefix(target+string(os.PathSeparator), root) {
			return fmt.Errorf("extract %s: entry %q escapes the sandbox", archive, h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, target); err != nil && !os.IsExist(err) {
				return err
			}
		}
	}
}

func download(ctx context.Context, rawURL, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", rawURL, res.Status)
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, res.Body); err != nil {
		out.Close()
		return fmt.Errorf("download %s: %w", rawURL, err)
	}
	return out.Close()
}
