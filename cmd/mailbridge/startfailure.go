package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
)

// startFailedMsg is the log message of a service that failed to start
// after loading its configuration: `service start` looks for it in the
// log file to say why.
const startFailedMsg = "mailbridge cannot start"

// startFailure returns the reason a service gave in its log file for not
// starting (the error of its last startFailedMsg record written from
// offset on), or "" when there is none. The service runs elsewhere (under
// the service manager, as another account): its log file is how it tells
// `service start` what went wrong, in the words it logged.
func startFailure(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() < offset {
		offset = 0 // rotated meanwhile: the record is in the new file
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return ""
	}
	why := ""
	for _, line := range bytes.Split(data, []byte("\n")) {
		if bytes.Contains(line, []byte(" msg="+strconv.Quote(startFailedMsg))) {
			why = textAttr(string(line), "error")
		}
	}
	return why
}

// textAttr is the value of key in a line written by slog's TextHandler
// (key=value, the value quoted as Go quotes strings when it needs to be).
func textAttr(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		q, err := strconv.QuotedPrefix(v)
		if err != nil {
			return ""
		}
		s, _ := strconv.Unquote(q)
		return s
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}
