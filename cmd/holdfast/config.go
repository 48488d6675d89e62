package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/holdfast/holdfast"
)

// A server's configuration comes from, in order of precedence: its flags,
// HOLDFAST_* environment variables, a YAML file (--config), and the
// defaults. The file's keys and the variables' names are the flags' own
// (HOLDFAST_MAX_LAG is --max-lag), and each value goes through the flag's
// own parser, so there is one list of settings, one set of types and one
// set of messages (decision 154).

const configEnv = "HOLDFAST_CONFIG"

// secretEnvs are the settings given only in the environment: never a flag
// (a flag shows in ps), never a file key, never printed.
var secretEnvs = []string{auditKeyEnv, webhookSecretEnv, webhookPreviousSecretEnv, pushSecretEnv, smtpPasswordEnv,
	oidcEnv, s3AccessKeyEnv, s3SecretKeyEnv, holderKeyEnv, sessionKeyEnv}

// envName is the variable that sets flag name: HOLDFAST_ and the name in
// capitals with underscores. A flag whose variable is a secret's (the
// --audit-key file beside $HOLDFAST_AUDIT_KEY, the key itself) has none.
func envName(name string) string {
	if !isSetting(name) {
		return ""
	}
	env := "HOLDFAST_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if slices.Contains(secretEnvs, env) {
		return ""
	}
	return env
}

// applyConfig gives every flag of fs that the command line did not set
// its value from the environment, else from the config file (--config or
// $HOLDFAST_CONFIG), and returns where each value came from (flag,
// env NAME, FILE:LINE or default). A key the
// file should not have, or a value a flag refuses, is an invalid_argument
// naming the file, line and key, or the variable.
func applyConfig(fs *pflag.FlagSet, getenv func(string) string) (map[string]string, error) {
	path := getenv(configEnv)
	if f := fs.Lookup("config"); f != nil && f.Changed {
		path = f.Value.String()
	}
	file, err := readConfig(fs, path)
	if err != nil {
		return nil, err // the keys first: a value of a wrong key means nothing
	}
	from := map[string]string{}
	var errs problems
	fs.VisitAll(func(f *pflag.Flag) {
		env := envName(f.Name)
		v, inFile := file[f.Name]
		switch {
		case !isSetting(f.Name):
			return
		case f.Changed:
			from[f.Name] = "flag"
		case env != "" && getenv(env) != "":
			if err := f.Value.Set(getenv(env)); err != nil {
				errs.add(f.Name, "$%s: %v", env, err)
			}
			from[f.Name] = "env " + env
		case inFile:
			if err := setFromFile(f, v); err != nil {
				errs.add(f.Name, "%s:%d: %s: %v", path, v.Line, f.Name, err)
			}
			from[f.Name] = fmt.Sprintf("%s:%d", path, v.Line)
		default:
			from[f.Name] = "default"
		}
	})
	return from, errs.err()
}

// problems gathers every problem of a configuration, so that one run
// reports them all.
type problems struct {
	field string // the first problem's
	lines []string
}

func (p *problems) add(field, format string, args ...any) {
	if p.field == "" {
		p.field = field
	}
	p.lines = append(p.lines, fmt.Sprintf(format, args...))
}

// err is nil, or an invalid_argument listing the problems a line each.
func (p *problems) err() error {
	if len(p.lines) == 0 {
		return nil
	}
	return holdfast.Errorf(holdfast.InvalidArgument, p.field, "%s", strings.Join(p.lines, "\n"))
}

// setFromFile sets f from a YAML value: a single value, or a list for a
// flag that takes several.
func setFromFile(f *pflag.Flag, v *yaml.Node) error {
	switch v.Kind {
	case yaml.ScalarNode:
		return f.Value.Set(v.Value)
	case yaml.SequenceNode:
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return fmt.Errorf("want a single value, not a list")
		}
		var items []string
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return fmt.Errorf("want a list of single values")
			}
			items = append(items, it.Value)
		}
		return sv.Replace(items)
	}
	return fmt.Errorf("want a single value or a list")
}

// readConfig reads the config file at path (none: no keys), checking
// every key against fs.
func readConfig(fs *pflag.FlagSet, path string) (map[string]*yaml.Node, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "config", "cannot read the config file: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "config", "%s: invalid YAML: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, holdfast.Errorf(holdfast.InvalidArgument, "config", "%s:%d: want a mapping of settings (addr: 0.0.0.0:7433, …)", path, root.Line)
	}
	keys := map[string]*yaml.Node{}
	var errs problems
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		f := fs.Lookup(k.Value)
		switch {
		case f == nil && isSecretKey(k.Value):
			errs.add(k.Value, "%s:%d: %s is a secret: give it in the environment only", path, k.Line, k.Value)
		case f == nil || !isSetting(k.Value):
			errs.add(k.Value, "%s:%d: unknown key %q (the keys are serve's flags: holdfast serve --help)", path, k.Line, k.Value)
		case keys[k.Value] != nil:
			errs.add(k.Value, "%s:%d: %s is given twice (first on line %d)", path, k.Line, k.Value, keys[k.Value].Line)
		default:
			keys[k.Value] = v
		}
	}
	return keys, errs.err()
}

// isSetting says whether serve's flag name is a setting: --config names
// the file, --help is not one.
func isSetting(name string) bool { return name != "config" && name != "help" }

// isSecretKey says whether key names a secret (webhook-secret is
// $HOLDFAST_WEBHOOK_SECRET), to say so rather than "unknown key".
func isSecretKey(key string) bool {
	return slices.ContainsFunc(secretEnvs, func(env string) bool {
		return key == env || key == strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "HOLDFAST_"), "_", "-"))
	})
}

// configCmd shows what a server would run with.
func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show the server's configuration: flags, HOLDFAST_* variables and the --config file, merged"}
	cmd.AddCommand(&cobra.Command{
		Use:                "show [--config FILE] [SERVE FLAGS...]",
		Short:              "Print the configuration `holdfast serve` would run with, as a config file, each value's source beside it; secrets redacted",
		DisableFlagParsing: true, // serve's flags, parsed by serve's own flag set
		RunE: func(cmd *cobra.Command, args []string) error {
			serve := serveCmd()
			fs := serve.Flags()
			if err := fs.Parse(args); err != nil {
				return usagef("%v", err)
			}
			if help, _ := fs.GetBool("help"); help {
				return cmd.Help()
			}
			from, err := applyConfig(fs, os.Getenv)
			if err != nil {
				return err
			}
			return printConfig(cmd.OutOrStdout(), fs, from, os.Getenv)
		},
	})
	return cmd
}

// printConfig writes the effective settings as a config file.
func printConfig(w io.Writer, fs *pflag.FlagSet, from map[string]string, getenv func(string) string) error {
	fmt.Fprintln(w, "# The configuration holdfast serve runs with; each value's source after it.")
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		s, ok := from[f.Name]
		if !ok || err != nil {
			return
		}
		// A string that reads as another type is quoted; a number or a
		// bool is written plain.
		v := &yaml.Node{Kind: yaml.ScalarNode, Value: redactURL(f.Value.String()), Tag: "!!str"}
		if plainTypes[f.Value.Type()] {
			v.Tag = ""
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, it := range sv.GetSlice() {
				v.Content = append(v.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: it})
			}
		}
		var b []byte
		pair := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: f.Name}, v}}
		if b, err = yaml.Marshal(pair); err == nil {
			_, err = fmt.Fprintf(w, "%s  # %s\n", strings.TrimSuffix(string(b), "\n"), s)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "# Secrets, from the environment only:")
	for _, env := range secretEnvs {
		state := "not set"
		if getenv(env) != "" {
			state = "set (redacted)"
		}
		fmt.Fprintf(w, "#   %s: %s\n", env, state)
	}
	return nil
}

// plainTypes are the flag types whose values are written unquoted: 1000,
// not "1000".
var plainTypes = map[string]bool{"bool": true, "int": true, "float64": true}

// redactURL hides the password of a URL (postgres://user:pw@host/db);
// anything else is returned as it is.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), "REDACTED")
	return strings.Replace(u.String(), "REDACTED", "***", 1)
}
