package creds

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/launchcli/launch/internal/golden"
)

// presignSignature computes a SigV4 query-string signature from the
// published algorithm (AWS General Reference, "Create a signed AWS API
// request"): canonical request, string to sign, derived key. It is this
// test's own implementation, independent of the SDK that BedrockToken uses.
func presignSignature(secret, region, service, host, path string, query url.Values, when time.Time) string {
	keys := make([]string, 0, len(query))
	for k := range query {
		if k != "X-Amz-Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var cq []string
	for _, k := range keys {
		cq = append(cq, uriEncode(k)+"="+uriEncode(query.Get(k)))
	}
	canonical := strings.Join([]string{"GET", path, strings.Join(cq, "&"), "host:" + host + "\n", "host", "UNSIGNED-PAYLOAD"}, "\n")
	date := when.UTC().Format("20060102")
	scope := date + "/" + region + "/" + service + "/aws4_request"
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + when.UTC().Format("20060102T150405Z") + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, "aws4_request")
	return hex.EncodeToString(mac(k, toSign))
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// uriEncode is SigV4's encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XX.
func uriEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// TestPresignSignatureVector checks this test's reference implementation
// against the example AWS publishes for a presigned URL (Amazon S3 API
// Reference, "Authenticating Requests: Using Query Parameters").
func TestPresignSignatureVector(t *testing.T) {
	q := url.Values{
		"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
		"X-Amz-Credential":    {"AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
		"X-Amz-Date":          {"20130524T000000Z"},
		"X-Amz-Expires":       {"86400"},
		"X-Amz-SignedHeaders": {"host"},
	}
	got := presignSignature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3", "examplebucket.s3.amazonaws.com", "/test.txt", q, time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))
	if want := "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"; got != want {
		t.Fatalf("reference signature = %s, want the published %s", got, want)
	}
}

// TestBedrockToken: a fixed clock and fixed keys give a fixed token whose
// presigned URL carries a signature equal to the one the published
// algorithm computes, and whose lifetime is capped by the credentials'.
func TestBedrockToken(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	c := ProcessCredentials{
		Version:         1,
		AccessKeyID:     "ASIAEXAMPLEKEYID0001",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken:    "IQoJb3JpZ2luX2VjEXAMPLE+session/token==",
	}
	tests := []struct {
		name        string
		expiration  string
		wantExpires string // X-Amz-Expires
	}{
		{"credentials-outlive-12h", "2026-12-02T14:00:00Z", "43200"},
		{"capped-by-credentials", "2026-12-01T17:00:30Z", "10830"},
		{"long-term-keys", "", "43200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			c.Expiration = tt.expiration
			tok, exp, err := BedrockToken(c, "us-west-2", now)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(tok, "bedrock-api-key-"))
			if !strings.HasPrefix(tok, "bedrock-api-key-") || err != nil {
				t.Fatalf("token %q: want bedrock-api-key-BASE64 (%v)", tok, err)
			}
			s, ok := strings.CutSuffix(string(raw), "&Version=1")
			if !ok || !strings.HasPrefix(s, "bedrock.amazonaws.com/?") {
				t.Fatalf("decoded token %q: want bedrock.amazonaws.com/?...&Version=1", raw)
			}
			u, err := url.Parse("https://" + s)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			for k, want := range map[string]string{
				"Action":               "CallWithBearerToken",
				"X-Amz-Algorithm":      "AWS4-HMAC-SHA256",
				"X-Amz-Credential":     "ASIAEXAMPLEKEYID0001/20261201/us-west-2/bedrock/aws4_request",
				"X-Amz-Date":           "20261201T140000Z",
				"X-Amz-Expires":        tt.wantExpires,
				"X-Amz-SignedHeaders":  "host",
				"X-Amz-Security-Token": c.SessionToken,
			} {
				if got := q.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			want := presignSignature(c.SecretAccessKey, "us-west-2", "bedrock", "bedrock.amazonaws.com", "/", q, now)
			if got := q.Get("X-Amz-Signature"); got != want {
				t.Errorf("X-Amz-Signature = %s, want %s (published algorithm)", got, want)
			}
			if got := exp.Sub(now); got != time.Duration(mustAtoi(t, tt.wantExpires))*time.Second {
				t.Errorf("expires %s, want now + %ss", exp, tt.wantExpires)
			}
			// The whole token is a fixed test vector too.
			golden.Check(t, filepath.Join("testdata", "TestBedrockToken", tt.name+".golden"), []byte(tok+"\n"), *update)
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestBedrockTokenRefuses(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	c := ProcessCredentials{Version: 1, AccessKeyID: "A", SecretAccessKey: "S", Expiration: "2026-12-01T14:00:30Z"}
	if _, _, err := BedrockToken(c, "us-east-1", now); err == nil || !strings.Contains(err.Error(), "launch refresh --kind bedrock") {
		t.Errorf("credentials with 30s left: err = %v, want a refusal naming the fix", err)
	}
	c.Expiration = ""
	if _, _, err := BedrockToken(c, "", now); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("no region: err = %v, want it to name AWS_REGION", err)
	}
}
