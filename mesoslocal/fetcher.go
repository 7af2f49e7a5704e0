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
	var src io.ReadCloser
	switch {
	case strings.HasPrefix(u.Value, "http://") || strings.HasPrefix(u.Value, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Value, nil)
		if err != nil {
			return err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			return fmt.Errorf("GET %s: %s", u.Value, res.Status)
		}
		src = res.Body
	case strings.HasPrefix(u.Value, "file://"):
		p, err := url.Parse(u.Value)
		if err != nil {
			return err
		}
		f, err := os.Open(p.Path)
		if err != nil {
			return err
		}
		src = f
	case strings.Contains(u.Value, "://"):
		return fmt.Errorf("unsupported URI scheme in %q: mesoslocal fetches http, https, file and local paths", u.Value)
	default:
		f, err := os.Open(u.Value)
		if err != nil {
			return err
		}
		src = f
	}
	defer src.Close()
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	tmp := dst + ".fetching"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
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
