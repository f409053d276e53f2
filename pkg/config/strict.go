package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// checker collects problems while walking the YAML tree and validating the decoded
// Config, and remembers each field path's line so validation errors can name it.
type checker struct {
	problems []Problem
	lines    map[string]int
}

func typeOfConfig() reflect.Type { return reflect.TypeFor[Config]() }

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Line: c.line(path), Message: fmt.Sprintf(format, args...)})
}

// line returns the line of path, or of its nearest parent that has one.
func (c *checker) line(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := c.lines[p]; ok {
			return l
		}
	}
	return 0
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// walk checks node against the Go type t: mappings for structs and maps, sequences for
// slices, scalars that decode into the field's type; unknown and duplicate keys are
// problems. It records the line of every path it visits.
func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		c.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an explicit null leaves the zero value
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.add(path, "want a mapping, got %s", describe(n))
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			p := join(path, key)
			if k.Kind != yaml.ScalarNode {
				c.add(path, "line %d: mapping key must be a plain name", k.Line)
				continue
			}
			if k.Tag == "!!merge" {
				c.add(p, "merge keys (<<) are not supported")
				continue
			}
			if seen[key] {
				c.lines[p] = k.Line
				c.add(p, "duplicate field")
				continue
			}
			seen[key] = true
			ft, ok := fields[key]
			if !ok {
				c.lines[p] = k.Line
				c.add(p, "unknown field%s", suggest(key, fields))
				continue
			}
			c.walk(v, ft, p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.add(path, "want a mapping, got %s", describe(n))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if seen[k.Value] {
				c.lines[p] = k.Line
				c.add(p, "duplicate key")
				continue
			}
			seen[k.Value] = true
			c.walk(v, t.Elem(), p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.add(path, "want a list, got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			c.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			c.add(path, "want a %s, got %s", scalarName(t), describe(n))
			return
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			c.add(path, "want a %s, got %q", scalarName(t), n.Value)
		}
	}
}

// yamlFields maps each yaml key of struct type t to its field type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest names a known field spelled like key, for typos such as "regoin".
func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	best := closest(key, names, 3)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// closest returns the name nearest to key by case-insensitive edit distance, if that
// distance is below limit; ties go to the name that sorts first. "" when none is near.
func closest(key string, names []string, limit int) string {
	best, bestDist := "", limit
	k := strings.ToLower(key)
	for _, name := range names {
		d := editDistance(k, strings.ToLower(name))
		if d < bestDist || (d == bestDist && best != "" && name < best) {
			best, bestDist = name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "an unsupported node"
	}
}

func scalarName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean (true/false)"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "whole number"
	case reflect.Float64, reflect.Float32:
		return "number"
	default:
		return "string"
	}
}
