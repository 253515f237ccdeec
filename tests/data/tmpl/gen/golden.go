// Regenerates the .out files of the golden template cases with Go's own
// text/template, so our outputs are checked against Go's, byte for byte.
// Needs a Go toolchain (apt-get install golang-go); the tests never run
// it.  Usage, from tests/data/tmpl: go run gen/golden.go [NAME...]
//
// Cases with a NAME.err or a NAME.nogo file are skipped: error texts are
// ours (they carry columns), and .nogo marks a case whose expected output
// was written by hand (consul-template functions Go alone lacks, such as
// toYAML, or language features newer than the installed Go).  The
// consul-template functions are stand-ins with the same behaviour for
// the inputs the cases use.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

type fixture struct {
	Secret  map[string]map[string]interface{} `json:"secret"`
	Secrets map[string][]interface{}          `json:"secrets"`
	Pki     map[string]interface{}            `json:"pki"`
	Env     map[string]string                 `json:"env"`
}

func key(args []string) string {
	k := args[0]
	for i, kv := range args[1:] {
		if i == 0 {
			k += "?" + kv
		} else {
			k += "&" + kv
		}
	}
	return k
}

func funcs(fx *fixture) template.FuncMap {
	return template.FuncMap{
		"secret": func(args ...string) (interface{}, error) {
			s, ok := fx.Secret[key(args)]
			if !ok {
				return nil, fmt.Errorf("no secret at %s", key(args))
			}
			m := map[string]interface{}{"RequestID": "", "LeaseID": "", "LeaseDuration": 0, "Renewable": false}
			names := map[string]string{"request_id": "RequestID", "lease_id": "LeaseID", "lease_duration": "LeaseDuration", "renewable": "Renewable", "data": "Data", "warnings": "Warnings"}
			for k, v := range s {
				if n, ok := names[k]; ok {
					m[n] = v
				}
			}
			return m, nil
		},
		"secrets": func(p string) (interface{}, error) { return fx.Secrets[p], nil },
		"pkiCert": func(args ...string) (interface{}, error) { return fx.Pki[key(args)], nil },
		"env":     func(s string) string { return fx.Env[s] },
		"base64Encode": func(s string) string {
			return base64.StdEncoding.EncodeToString([]byte(s))
		},
		"base64Decode": func(s string) (string, error) {
			v, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", fmt.Errorf("base64Decode: %s", err)
			}
			return string(v), nil
		},
		"base64URLEncode": func(s string) string {
			return base64.URLEncoding.EncodeToString([]byte(s))
		},
		"base64URLDecode": func(s string) (string, error) {
			v, err := base64.URLEncoding.DecodeString(s)
			if err != nil {
				return "", fmt.Errorf("base64URLDecode: %s", err)
			}
			return string(v), nil
		},
		"toJSON": func(v interface{}) (string, error) {
			b, err := json.Marshal(v)
			return string(bytes.TrimSpace(b)), err
		},
		"toJSONPretty": func(v interface{}) (string, error) {
			b, err := json.MarshalIndent(v, "", "  ")
			return string(bytes.TrimSpace(b)), err
		},
		"parseJSON": func(s string) (interface{}, error) {
			if s == "" {
				return map[string]interface{}{}, nil
			}
			var d interface{}
			err := json.Unmarshal([]byte(s), &d)
			return d, err
		},
		"split": func(sep, s string) []string {
			s = strings.TrimSpace(s)
			if s == "" {
				return []string{}
			}
			return strings.Split(s, sep)
		},
		"join":       func(sep string, a []string) string { return strings.Join(a, sep) },
		"trimSpace":  strings.TrimSpace,
		"replaceAll": func(f, t, s string) string { return strings.Replace(s, f, t, -1) },
		"toLower":    strings.ToLower,
		"toUpper":    strings.ToUpper,
		"contains": func(v, l interface{}) bool {
			switch h := l.(type) {
			case string:
				s, ok := v.(string)
				return ok && strings.Contains(h, s)
			case []interface{}:
				for _, e := range h {
					if e == v {
						return true
					}
				}
			case []string:
				for _, e := range h {
					if e == v {
						return true
					}
				}
			}
			return false
		},
		"toYAML": func(v interface{}) string { return "" },
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func main() {
	var fx fixture
	raw, err := os.ReadFile("vault.json")
	if err != nil {
		panic(err)
	}
	// Vault's client decodes answers with UseNumber, so consul-template
	// sees numbers in secrets as json.Number and prints them as sent.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fx); err != nil {
		panic(err)
	}
	names := os.Args[1:]
	if len(names) == 0 {
		all, _ := filepath.Glob("*.tmpl")
		for _, n := range all {
			names = append(names, strings.TrimSuffix(n, ".tmpl"))
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if exists(n+".err") || exists(n+".nogo") {
			continue
		}
		src, _ := os.ReadFile(n + ".tmpl")
		t := template.New(n + ".tmpl").Funcs(funcs(&fx))
		if opts, err := os.ReadFile(n + ".opts"); err == nil {
			l, r := "", ""
			for _, line := range strings.Split(string(opts), "\n") {
				if strings.HasPrefix(line, "left_delimiter=") {
					l = strings.TrimPrefix(line, "left_delimiter=")
				} else if strings.HasPrefix(line, "right_delimiter=") {
					r = strings.TrimPrefix(line, "right_delimiter=")
				} else if line == "error_on_missing_key=true" {
					t = t.Option("missingkey=error")
				}
			}
			t = t.Delims(l, r)
		}
		if _, err := t.Parse(string(src)); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", n, err)
			continue
		}
		var dot interface{}
		if d, err := os.ReadFile(n + ".json"); err == nil {
			if err := json.Unmarshal(d, &dot); err != nil {
				panic(err)
			}
		}
		var out bytes.Buffer
		if err := t.Execute(&out, dot); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", n, err)
			continue
		}
		os.WriteFile(n+".out", out.Bytes(), 0o644)
	}
}
