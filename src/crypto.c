#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#define SCRYPT_LN 15
#define SCRYPT_R 8
#define SCRYPT_P 1
#define SALT_LEN 16
#define HASH_LEN 32
#define BOX_VERSION 1
#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_LEN 32

struct crypto_box {
	unsigned char key[KEY_LEN];
};

void
crypto_wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

static int
scrypt(const char *password, const unsigned char *salt, size_t saltlen, int ln, int r, int p,
    unsigned char *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[6];
	uint64_t n = (uint64_t)1 << ln;
	uint32_t rr = (uint32_t)r, pp = (uint32_t)p;
	int ok;

	if (kdf == NULL)
		return -1;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, strlen(password));
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &rr);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp);
	params[5] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, out, outlen, params) == 1;
	EVP_KDF_CTX_free(ctx);
	return ok ? 0 : -1;
}

static char *
b64(const unsigned char *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* Decodes base64 into out (cap bytes); returns length or -1. */
static int
unb64(const char *in, size_t inlen, unsigned char *out, size_t cap)
{
	unsigned char tmp[256];
	int n, pad = 0;

	if (inlen == 0 || inlen % 4 != 0 || inlen / 4 * 3 > sizeof(tmp))
		return -1;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)inlen);
	if (n < 0)
		return -1;
	if (in[inlen - 1] == '=')
		pad++;
	if (in[inlen - 2] == '=')
		pad++;
	n -= pad;
	if ((size_t)n > cap)
		return -1;
	memcpy(out, tmp, (size_t)n);
	return n;
}

char *
crypto_password_hash(const char *password)
{
	unsigned char salt[SALT_LEN], hash[HASH_LEN];
	char *s = NULL, *h = NULL, *out = NULL;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    scrypt(password, salt, sizeof(salt), SCRYPT_LN, SCRYPT_R, SCRYPT_P, hash, sizeof(hash)) == -1)
		return NULL;
	s = b64(salt, sizeof(salt));
	h = b64(hash, sizeof(hash));
	if (s != NULL && h != NULL &&
	    asprintf(&out, "$scrypt$ln=%d,r=%d,p=%d$%s$%s", SCRYPT_LN, SCRYPT_R, SCRYPT_P, s, h) == -1)
		out = NULL;
	free(s);
	free(h);
	crypto_wipe(hash, sizeof(hash));
	return out;
}

int
crypto_password_verify(const char *password, const char *hash)
{
	unsigned char salt[64], want[64], got[64];
	const char *salt_s, *hash_s;
	int ln, r, p, saltlen, wantlen, ok;

	if (sscanf(hash, "$scrypt$ln=%d,r=%d,p=%d$", &ln, &r, &p) != 3 || ln < 1 || ln > 22 ||
	    r < 1 || r > 32 || p < 1 || p > 16)
		return -1;
	if ((salt_s = strchr(hash + 8, '$')) == NULL || (hash_s = strchr(salt_s + 1, '$')) == NULL)
		return -1;
	salt_s++;
	saltlen = unb64(salt_s, (size_t)(hash_s - salt_s), salt, sizeof(salt));
	hash_s++;
	wantlen = unb64(hash_s, strlen(hash_s), want, sizeof(want));
	if (saltlen <= 0 || wantlen <= 0)
		return -1;
	if (scrypt(password, salt, (size_t)saltlen, ln, r, p, got, (size_t)wantlen) == -1)
		return -1;
	ok = CRYPTO_memcmp(got, want, (size_t)wantlen) == 0;
	crypto_wipe(got, sizeof(got));
	return ok;
}

int
crypto_box_open(const char *key_path, struct crypto_box **box_r, const char **error_r)
{
	static char err[512];
	struct crypto_box *box;
	struct stat sb;
	ssize_t n;
	int fd;

	*box_r = NULL;
	if ((box = calloc(1, sizeof(*box))) == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	fd = open(key_path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		/* First use: make the key, never readable by others. */
		if (RAND_bytes(box->key, KEY_LEN) != 1) {
			*error_r = "no randomness for the secret key";
			free(box);
			return -1;
		}
		fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1 || write(fd, box->key, KEY_LEN) != KEY_LEN || fsync(fd) == -1) {
			snprintf(err, sizeof(err), "cannot create %s: %s", key_path, strerror(errno));
			if (fd != -1)
				close(fd);
			crypto_box_free(&box);
			*error_r = err;
			return -1;
		}
		close(fd);
		*box_r = box;
		return 0;
	}
	if (fd == -1) {
		snprintf(err, sizeof(err), "cannot open %s: %s", key_path, strerror(errno));
		free(box);
		*error_r = err;
		return -1;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) != 0) {
		snprintf(err, sizeof(err), "%s is readable by others (mode %03o): chmod 600 it", key_path,
		    (unsigned)(sb.st_mode & 0777));
		close(fd);
		free(box);
		*error_r = err;
		return -1;
	}
	n = read(fd, box->key, KEY_LEN);
	close(fd);
	if (n != KEY_LEN) {
		snprintf(err, sizeof(err), "%s is not a %d-byte key", key_path, KEY_LEN);
		crypto_box_free(&box);
		*error_r = err;
		return -1;
	}
	*box_r = box;
	return 0;
}

void
crypto_box_free(struct crypto_box **boxp)
{
	if (*boxp == NULL)
		return;
	crypto_wipe((*boxp)->key, KEY_LEN);
	free(*boxp);
	*boxp = NULL;
}

int
crypto_box_seal(struct crypto_box *box, const void *plain, size_t len, unsigned char **out_r, size_t *outlen_r)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char *out;
	int n, fin, ok = 0;

	*out_r = NULL;
	if (len > 65536 || (out = malloc(1 + NONCE_LEN + len + TAG_LEN)) == NULL)
		return -1;
	out[0] = BOX_VERSION;
	if (RAND_bytes(out + 1, NONCE_LEN) != 1 || (ctx = EVP_CIPHER_CTX_new()) == NULL) {
		free(out);
		return -1;
	}
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, box->key, out + 1) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, out, 1) == 1 &&	/* version byte as AAD */
	    EVP_EncryptUpdate(ctx, out + 1 + NONCE_LEN, &n, plain, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(ctx, out + 1 + NONCE_LEN + n, &fin) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + 1 + NONCE_LEN + len) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		free(out);
		return -1;
	}
	*out_r = out;
	*outlen_r = 1 + NONCE_LEN + len + TAG_LEN;
	return 0;
}

int
crypto_box_unseal(struct crypto_box *box, const unsigned char *in, size_t len, char **plain_r)
{
	EVP_CIPHER_CTX *ctx;
	size_t clen;
	char *out;
	int n, fin, ok = 0;

	*plain_r = NULL;
	if (len < 1 + NONCE_LEN + TAG_LEN || in[0] != BOX_VERSION)
		return -1;
	clen = len - 1 - NONCE_LEN - TAG_LEN;
	if ((out = malloc(clen + 1)) == NULL)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		free(out);
		return -1;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, box->key, in + 1) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, in, 1) == 1 &&
	    EVP_DecryptUpdate(ctx, (unsigned char *)out, &n, in + 1 + NONCE_LEN, (int)clen) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(in + len - TAG_LEN)) == 1 &&
	    EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n, &fin) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		crypto_wipe(out, clen);
		free(out);
		return -1;
	}
	out[clen] = '\0';
	*plain_r = out;
	return 0;
}

char *
crypto_token(size_t nbytes)
{
	unsigned char buf[64];
	char *out;

	if (nbytes > sizeof(buf) || RAND_bytes(buf, (int)nbytes) != 1)
		return NULL;
	if ((out = malloc(nbytes * 2 + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", buf[i]);
	return out;
}
