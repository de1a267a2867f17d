package api_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/docsnode/docsnode/api"
	"github.com/docsnode/docsnode/engine"
)

// TestOpenAPIMatchesRoutes: docs/openapi.json describes exactly the
// routes the server registers, and every $ref in it resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range spec.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	e, err := engine.Open(context.Background(), engine.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv := api.NewServer(e, api.Config{})
	defer srv.Close()
	var served []string
	for _, p := range srv.Routes() {
		served = append(served, strings.ReplaceAll(p, "...}", "}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		for _, r := range served {
			if !slices.Contains(documented, r) {
				t.Errorf("served, not in openapi.json: %s", r)
			}
		}
		for _, r := range documented {
			if !slices.Contains(served, r) {
				t.Errorf("in openapi.json, not served: %s", r)
			}
		}
	}
	for _, m := range regexp.MustCompile(`"\$ref": "#/components/(\w+)/(\w+)"`).FindAllStringSubmatch(string(raw), -1) {
		if _, ok := spec.Components[m[1]][m[2]]; !ok {
			t.Errorf("openapi.json refers to the missing %s/%s", m[1], m[2])
		}
	}
}
