package creds

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The short-term Amazon Bedrock API key, as AWS's token generators make it
// (aws-bedrock-token-generator for Python, JavaScript and Java): a SigV4
// presigned GET of https://bedrock.amazonaws.com/?Action=CallWithBearerToken
// for the service "bedrock", without "https://", with "&Version=1" appended
// after the signature, base64-encoded behind the prefix "bedrock-api-key-".
const (
	bedrockHost        = "bedrock.amazonaws.com"
	bedrockService     = "bedrock"
	bedrockTokenPrefix = "bedrock-api-key-"
	bedrockVersion     = "&Version=1"
	// BedrockMaxLifetime is the longest a short-term key lives (12 hours).
	BedrockMaxLifetime = 12 * time.Hour
)

// BedrockToken returns a short-term Bedrock API key for the credentials in
// region, signed at now, valid for BedrockMaxLifetime or until the
// credentials expire, whichever comes first, and when it expires. Expired
// credentials, or ones with less than a minute left, are an error.
func BedrockToken(c ProcessCredentials, region string, now time.Time) (token string, expires time.Time, err error) {
	if region == "" {
		return "", time.Time{}, fmt.Errorf("no AWS region: set AWS_REGION (us-east-1, say) or region in your profile")
	}
	life := BedrockMaxLifetime
	exp, err := c.Expires()
	if err != nil {
		return "", time.Time{}, err
	}
	if !exp.IsZero() {
		left := exp.Sub(now).Truncate(time.Second)
		if left < time.Minute {
			return "", time.Time{}, fmt.Errorf("the AWS credentials expire at %s, too soon for a Bedrock key; run launch refresh --kind bedrock", exp.Format(time.RFC3339))
		}
		life = min(life, left)
	}
	q := url.Values{}
	q.Set("Action", "CallWithBearerToken")
	q.Set("X-Amz-Expires", strconv.FormatInt(int64(life/time.Second), 10))
	req, err := http.NewRequest(http.MethodGet, "https://"+bedrockHost+"/?"+q.Encode(), nil)
	if err != nil {
		return "", time.Time{}, err
	}
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	// A presigned URL signs no body: UNSIGNED-PAYLOAD, as botocore does.
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", bedrockService, region, now.UTC())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign the Bedrock key: %w", err)
	}
	raw := strings.TrimPrefix(signed, "https://") + bedrockVersion
	return bedrockTokenPrefix + base64.StdEncoding.EncodeToString([]byte(raw)), now.Add(life).UTC(), nil
}
