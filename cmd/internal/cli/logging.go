package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
)

// LogFlags are the logging flags every long-running command shares.
type LogFlags struct {
	format string
	level  string
}

// Register adds --log-format and --log-level to fs.
func (l *LogFlags) Register(fs *flag.FlagSet, defaultLevel string) {
	fs.StringVar(&l.format, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&l.level, "log-level", defaultLevel, "log `level`: trace, debug, info, warn or error")
}

// Logger builds the root logger: one per process, named sub-loggers per component.
func (l *LogFlags) Logger(name string, w io.Writer) (hclog.Logger, error) {
	if l.format != "text" && l.format != "json" {
		return nil, fmt.Errorf("--log-format must be text or json, not %q", l.format)
	}
	level := hclog.LevelFromString(l.level)
	if level == hclog.NoLevel {
		return nil, fmt.Errorf("--log-level must be trace, debug, info, warn or error, not %q", l.level)
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: level, JSONFormat: l.format == "json", Output: w}), nil
}
