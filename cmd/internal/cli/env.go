package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// EnvPrefix starts the name of every environment variable that sets a flag.
const EnvPrefix = "POLLEN_"

// EnvName is the environment variable that sets a flag: --poll-workers is POLLEN_POLL_WORKERS.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// WithEnv documents, in fs's usage, that every flag of fs can be set from the environment (see
// SetFromEnv), and names the variables.
func WithEnv(fs *flag.FlagSet) {
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, EnvName(f.Name)) })
		w := fs.Output()
		fmt.Fprintf(w, "\nEnvironment:\n  Every flag can also be set from the environment: %s and the flag's name in\n"+
			"  capitals, '-' as '_' (--poll-workers is %s). A flag given on the\n  command line wins over its variable. The variables:\n",
			EnvPrefix, EnvName("poll-workers"))
		line := " "
		for _, n := range names {
			if len(line)+1+len(n) > 80 {
				fmt.Fprintln(w, line)
				line = " "
			}
			line += " " + n
		}
		fmt.Fprintln(w, line)
	}
}

// SetFromEnv sets each flag of fs that the command line did not set from its environment variable
// (EnvName), when that is set, even to "". lookup is os.LookupEnv outside tests. A value the flag
// refuses is an error that names the variable.
func SetFromEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("invalid value %q for %s (--%s): %w", v, name, f.Name, err))
		}
	})
	return errors.Join(errs...)
}
