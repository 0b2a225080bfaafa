package server

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// openAPI is the part of api/openapi.yaml the test checks.
type openAPI struct {
	OpenAPI    string                    `yaml:"openapi"`
	Paths      map[string]map[string]any `yaml:"paths"`
	Components map[string]map[string]any `yaml:"components"`
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

func loadOpenAPI(t *testing.T) (*openAPI, []byte) {
	t.Helper()
	b, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("api/openapi.yaml: openapi %q, want 3.1.x", doc.OpenAPI)
	}
	return &doc, b
}

// Every documented path and method is served, and every served route is
// documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	var documented []string
	for path, item := range doc.Paths {
		for m := range item {
			if slices.Contains(httpMethods, m) {
				documented = append(documented, strings.ToUpper(m)+" "+path)
			}
		}
	}
	e := newEnv(t)
	var served []string
	for _, rt := range e.srv.routes {
		served = append(served, rt.method+" "+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("api/openapi.yaml documents %s, which the server does not have", d)
		}
	}
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("the server has %s, which api/openapi.yaml does not document", s)
		}
	}

	// And the mux really routes them: a documented route without a token
	// gets 200 (public) or 401, never the mux's 404 or 405; another method
	// on the same path gets 405.
	fill := strings.NewReplacer("{db}", "app", "{path}", "a/b", "{name}", "f", "{id}", "x")
	for _, d := range documented {
		method, path, _ := strings.Cut(d, " ")
		code, _, b := e.do(req{method: method, path: fill.Replace(path)})
		if code == 404 || code == 405 {
			t.Errorf("%s %s = %d %s: not routed", method, fill.Replace(path), code, b)
		}
	}
	for path, item := range doc.Paths {
		if _, ok := item["patch"]; !ok {
			if code, _, _ := e.do(req{method: "PATCH", path: fill.Replace(path)}); code != 405 {
				t.Errorf("PATCH %s = %d, want 405", fill.Replace(path), code)
			}
		}
	}
}

// Every $ref points at a component that exists.
func TestOpenAPIRefs(t *testing.T) {
	doc, b := loadOpenAPI(t)
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i++ {
			if n.Kind == yaml.MappingNode && i%2 == 0 && n.Content[i].Value == "$ref" {
				ref := n.Content[i+1].Value
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				if len(parts) != 2 || doc.Components[parts[0]][parts[1]] == nil {
					t.Errorf("line %d: $ref %q resolves to nothing", n.Content[i+1].Line, ref)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
}
