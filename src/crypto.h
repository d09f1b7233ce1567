/*
 * crypto: password hashing, the secret box for credentials at rest, and
 * random tokens. All through OpenSSL 3.
 *
 * Password hashes are "$scrypt$ln=15,r=8,p=1$SALT$HASH" (base64). The secret
 * box seals upstream passwords with AES-256-GCM under a 32-byte key kept in
 * STATE/secret.key (mode 0600, created on first use). Plaintext secrets are
 * wiped after use by the callers with crypto_wipe(); nothing here logs.
 */
#ifndef POPGATE_CRYPTO_H
#define POPGATE_CRYPTO_H

#include <stddef.h>

/* New hash string for password (malloc'd) or NULL. */
char *crypto_password_hash(const char *password);
/* 1 if password matches hash, 0 if not, -1 if the hash is malformed. Constant time compare. */
int crypto_password_verify(const char *password, const char *hash);

struct crypto_box;
/* Loads STATE/secret.key, creating it (0600) when absent. */
int crypto_box_open(const char *key_path, struct crypto_box **box_r, const char **error_r);
void crypto_box_free(struct crypto_box **boxp);
/* Seals plain into a new buffer (version, nonce, ciphertext, tag). */
int crypto_box_seal(struct crypto_box *box, const void *plain, size_t len, unsigned char **out_r,
    size_t *outlen_r);
/* Opens a sealed buffer into a new NUL-terminated string; -1 if tampered or wrong key. */
int crypto_box_unseal(struct crypto_box *box, const unsigned char *in, size_t len, char **plain_r);

/* Random hex token of nbytes random bytes (2*nbytes chars), malloc'd. */
char *crypto_token(size_t nbytes);
void crypto_wipe(void *p, size_t len);

#endif
