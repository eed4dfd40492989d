// Package signedurl reads when a signed URL stops working, from the query
// parameters the common signers put in it: AWS SigV4 (X-Amz-Date and
// X-Amz-Expires), Google's V4 (X-Goog-Date and X-Goog-Expires), AWS SigV2,
// CloudFront and Google's V2 (Expires, in Unix seconds) and Azure SAS (se,
// with sig).
//
// It only parses: a URL that states no expiry, or states one it cannot
// read, has none, and what to do about an expiry (when to ask for a fresh
// URL) is the caller's decision. Its functions are pure and safe for
// concurrent use.
package signedurl
