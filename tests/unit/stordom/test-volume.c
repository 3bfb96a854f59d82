/* SPDX-License-Identifier: MIT */
/*
 * volume.c: create, open (LUKS2 and LUKS1), keys, grow, crypto-erase; and
 * the independent check that what stordom writes is what dm-crypt would
 * write: the key from `cryptsetup luksDump --dump-volume-key` and an AES-XTS
 * that is not ours (xts-ref.py) decrypt the raw backing file to the data.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../bh-test.h"
#include "sd-test.h"

#define DATA_SIZE (8u << 20)
#define CHUNK (256u << 10)

static char img[128], keyfile[128], badkey[128];

static void paths(const char *name)
{
	snprintf(img, sizeof(img), "%s/%s.img", test_dir(), name);
	snprintf(keyfile, sizeof(keyfile), "%s/%s.key", test_dir(), name);
	snprintf(badkey, sizeof(badkey), "%s/%s.bad", test_dir(), name);
}

static void make_keys(void)
{
	uint8_t k[48];

	CU_ASSERT_FATAL(getrandom(k, sizeof(k), 0) == sizeof(k));
	CU_ASSERT_FATAL(write_file(keyfile, k, sizeof(k)) == 0);
	k[0] ^= 1;
	CU_ASSERT_FATAL(write_file(badkey, k, sizeof(k)) == 0);
}

/* The volume key as `cryptsetup luksDump --dump-volume-key` prints it, into a .hex file. */
static int dump_key(const char *out_hex)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "cryptsetup luksDump --dump-volume-key --batch-mode --key-file %s %s | "
		 "awk '/^MK dump:/{f=1; sub(/^MK dump:/, \"\")} f && /^[A-Za-z]/ && !/^MK dump/{f=0} "
		 "f{printf \"%%s\", $0}' | tr -d ' \\t' > %s && test -s %s",
		 keyfile, img, out_hex, out_hex);
	return system(cmd) == 0 ? 0 : -1;
}

/* ASan intercepts mlock() and makes it a no-op, so VmLck only moves in plain builds. */
#if defined(__SANITIZE_ADDRESS__)
#define MLOCK_VISIBLE 0
#else
#define MLOCK_VISIBLE 1
#endif

static long vm_locked_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Encrypt @len bytes of @data at data offset @off through xts.c and write them. */
static int write_through(struct sd_volume *v, const uint8_t *data, size_t len, uint64_t off)
{
	struct sd_xts *x = NULL;
	uint8_t *buf = malloc(len);
	int r = buf ? sd_xts_new(&x) : -ENOMEM;

	if (r == 0)
		r = sd_xts_set_key(x, v->key->data, v->key->len);
	if (r == 0) {
		memcpy(buf, data, len);
		r = sd_xts_encrypt(x, buf, len, v->sector_size, sd_volume_iv(v, off), v->iv_step);
	}
	if (r == 0 && pwrite(v->fd, buf, len, (off_t)(v->data_offset + off)) != (ssize_t)len)
		r = -EIO;
	sd_xts_free(x);
	free(buf);
	return r;
}

/* Decrypt the raw file with the dumped key and xts-ref.py; compare with @data at @off. */
static void check_independent(struct sd_volume *v, const uint8_t *data, size_t len, uint64_t off)
{
	char hex[160], raw[160], out[160];
	uint8_t *cipher = malloc(len), *plain = malloc(len);

	snprintf(hex, sizeof(hex), "%s/vk.hex", test_dir());
	snprintf(raw, sizeof(raw), "%s/raw", test_dir());
	snprintf(out, sizeof(out), "%s/dec", test_dir());
	CU_ASSERT_FATAL(cipher && plain);
	CU_ASSERT_EQUAL_FATAL(dump_key(hex), 0);
	CU_ASSERT_EQUAL_FATAL(read_file(img, cipher, len, (off_t)(v->data_offset + off)),
			      (ssize_t)len);
	CU_ASSERT_NOT_EQUAL(memcmp(cipher, data, len), 0); /* dom0 sees ciphertext */
	CU_ASSERT_EQUAL_FATAL(write_file(raw, cipher, len), 0);
	/* dm-crypt's plain64 IV: sector number in the volume's sector size for LUKS2. */
	CU_ASSERT_EQUAL_FATAL(xts_ref(false, hex, v->sector_size, off / v->sector_size, 1, raw, out,
				      0), 0);
	CU_ASSERT_EQUAL(read_file(out, plain, len, 0), (ssize_t)len);
	CU_ASSERT_EQUAL(memcmp(plain, data, len), 0);
	free(cipher);
	free(plain);
}

static void test_create_luks2(void)
{
	struct sd_volume_params p = { .size = DATA_SIZE, .test_kdf = true };
	struct sd_volume *v = NULL;
	uint8_t *data = malloc(CHUNK);
	long locked_before = vm_locked_kb();

	paths("create");
	make_keys();
	CU_ASSERT_FATAL(data && getrandom(data, CHUNK, 0) == CHUNK);
	CU_ASSERT_EQUAL_FATAL(sd_volume_create(img, keyfile, &p, &v), 0);
	CU_ASSERT_EQUAL(v->luks_version, 2);
	CU_ASSERT_EQUAL(v->sector_size, 4096);
	CU_ASSERT_EQUAL(v->key->len, 64);
	CU_ASSERT_EQUAL(v->size, DATA_SIZE);
	CU_ASSERT_STRING_EQUAL(v->cipher, "aes-xts-plain64");
	CU_ASSERT(v->data_offset > 0 && v->data_offset % 4096 == 0);
	if (MLOCK_VISIBLE)
		CU_ASSERT(vm_locked_kb() > locked_before); /* the key page is mlocked */
	CU_ASSERT_EQUAL(write_through(v, data, CHUNK, 3u << 20), 0);
	check_independent(v, data, CHUNK, 3u << 20);
	sd_volume_close(v);
	CU_ASSERT_EQUAL(vm_locked_kb(), locked_before);
	free(data);
}

static void test_open_keys(void)
{
	struct sd_volume_params p = { .size = DATA_SIZE, .test_kdf = true };
	struct sd_volume *a = NULL, *b = NULL;

	paths("open");
	make_keys();
	CU_ASSERT_EQUAL_FATAL(sd_volume_create(img, keyfile, &p, &a), 0);
	CU_ASSERT_EQUAL_FATAL(sd_volume_open(img, keyfile, true, &b), 0);
	CU_ASSERT_EQUAL(memcmp(a->key->data, b->key->data, 64), 0);
	CU_ASSERT_NOT_EQUAL(a->key_id, b->key_id);
	CU_ASSERT(b->readonly);
	sd_volume_close(b);
	b = NULL;
	CU_ASSERT_EQUAL(sd_volume_open(img, badkey, false, &b), -EPERM);
	CU_ASSERT_PTR_NULL(b);
	CU_ASSERT_EQUAL(sd_volume_open(img, "/nonexistent/key", false, &b), -ENOENT);
	CU_ASSERT(sd_volume_open(keyfile, keyfile, false, &b) < 0); /* not LUKS */
	CU_ASSERT_PTR_NULL(b);
	sd_volume_close(a);
}

static void test_grow(void)
{
	struct sd_volume_params p = { .size = DATA_SIZE, .test_kdf = true };
	struct sd_volume *v = NULL;
	struct stat st;

	paths("grow");
	make_keys();
	CU_ASSERT_EQUAL_FATAL(sd_volume_create(img, keyfile, &p, &v), 0);
	CU_ASSERT_EQUAL(sd_volume_grow(v, DATA_SIZE + 4096 + 1), -EINVAL);
	CU_ASSERT_EQUAL(sd_volume_grow(v, DATA_SIZE - 4096), -EINVAL);
	CU_ASSERT_EQUAL(sd_volume_grow(v, 2 * DATA_SIZE), 0);
	CU_ASSERT_EQUAL(v->size, 2 * DATA_SIZE);
	CU_ASSERT_EQUAL(stat(img, &st), 0);
	CU_ASSERT_EQUAL((uint64_t)st.st_size, v->data_offset + 2 * DATA_SIZE);
	sd_volume_close(v);
	CU_ASSERT_EQUAL_FATAL(sd_volume_open(img, keyfile, false, &v), 0);
	CU_ASSERT_EQUAL(v->size, 2 * DATA_SIZE);
	sd_volume_close(v);
}

static int read_req(struct sd_volume *v, uint64_t off, uint32_t len, uint8_t *buf)
{
	struct sd_nbd_req r = { .type = SD_NBD_CMD_READ, .offset = off, .len = len };
	struct sd_xts *x = NULL;
	uint64_t keyed = 0;
	int err = sd_xts_new(&x);

	if (err == 0)
		err = sd_io_execute(v, false, x, &keyed, &r, buf);
	sd_xts_free(x);
	return err;
}

/*
 * READs decrypt from the mapped view: they see writes made after the view was
 * mapped, a grown area past the view goes through pread, and a backing file
 * cut short under a populated view is an EIO answer, not a SIGBUS.
 */
static void test_view(void)
{
	struct sd_volume_params p = { .size = DATA_SIZE, .test_kdf = true };
	struct sd_volume *v = NULL;
	uint8_t *data = malloc(CHUNK), *got = malloc(CHUNK);

	paths("view");
	make_keys();
	CU_ASSERT_FATAL(data && got && getrandom(data, CHUNK, 0) == CHUNK);
	CU_ASSERT_EQUAL_FATAL(sd_volume_create(img, keyfile, &p, &v), 0);
	CU_ASSERT_PTR_NOT_NULL(v->view);
	CU_ASSERT_EQUAL(read_req(v, 3u << 20, CHUNK, got), 0); /* populates the chunk */
	CU_ASSERT_EQUAL(write_through(v, data, CHUNK, 3u << 20), 0);
	CU_ASSERT_EQUAL(read_req(v, 3u << 20, CHUNK, got), 0);
	CU_ASSERT_EQUAL(memcmp(got, data, CHUNK), 0);
	CU_ASSERT_EQUAL(sd_volume_grow(v, 2 * DATA_SIZE), 0);
	CU_ASSERT_EQUAL(write_through(v, data, CHUNK, DATA_SIZE), 0);
	CU_ASSERT_EQUAL(read_req(v, DATA_SIZE, CHUNK, got), 0);
	CU_ASSERT_EQUAL(memcmp(got, data, CHUNK), 0);
	CU_ASSERT_EQUAL(ftruncate(v->fd, (off_t)(v->data_offset + (1u << 20))), 0);
	CU_ASSERT_EQUAL(read_req(v, 3u << 20, CHUNK, got), SD_NBD_EIO);
	sd_volume_close(v);
	free(data);
	free(got);
}

static void test_erase(void)
{
	struct sd_volume_params p = { .size = DATA_SIZE, .test_kdf = true };
	struct sd_volume *v = NULL;
	uint64_t header;
	uint8_t *buf;
	char cmd[256];

	paths("erase");
	make_keys();
	CU_ASSERT_EQUAL_FATAL(sd_volume_create(img, keyfile, &p, &v), 0);
	header = v->data_offset;
	sd_volume_close(v);
	v = NULL;
	CU_ASSERT_EQUAL(sd_volume_erase(img), 0);
	CU_ASSERT_NOT_EQUAL(sd_volume_open(img, keyfile, false, &v), 0);
	snprintf(cmd, sizeof(cmd), "cryptsetup isLuks %s", img);
	CU_ASSERT_NOT_EQUAL(system(cmd), 0);
	buf = calloc(1, header);
	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT_EQUAL(read_file(img, buf, header, 0), (ssize_t)header);
	for (uint64_t i = 0; i < header; i++)
		if (buf[i]) {
			CU_FAIL("header byte left after erase");
			break;
		}
	free(buf);
}

/*
 * A WRITE sealed and stored in uneven pieces as its payload arrives (conn.c),
 * then finished with FUA: reads back, and decrypts independently, as the
 * data. Refused requests and pieces out of place give their NBD errors.
 */
static void test_sealed_write(void)
{
	struct sd_volume_params p = { .size = DATA_SIZE, .test_kdf = true };
	struct sd_nbd_req r = { .type = SD_NBD_CMD_WRITE, .flags = SD_NBD_CMD_FLAG_FUA,
				.offset = 5u << 20, .len = CHUNK };
	uint32_t cuts[] = { 0, 3 * 4096, 4 * 4096, CHUNK - 4096, CHUNK };
	uint8_t *data = malloc(CHUNK), *buf = malloc(CHUNK), *got = malloc(CHUNK);
	struct sd_volume *v = NULL;
	struct sd_xts *x = NULL;
	uint64_t keyed = 0;

	paths("sealed");
	make_keys();
	CU_ASSERT_FATAL(data && buf && got && getrandom(data, CHUNK, 0) == CHUNK);
	CU_ASSERT_EQUAL_FATAL(sd_volume_create(img, keyfile, &p, &v), 0);
	CU_ASSERT_EQUAL_FATAL(sd_xts_new(&x), 0);
	memcpy(buf, data, CHUNK);
	for (size_t i = 0; i + 1 < sizeof(cuts) / sizeof(cuts[0]); i++) {
		CU_ASSERT_EQUAL(sd_io_seal(v, x, &keyed, &r, buf, cuts[i], cuts[i + 1]), 0);
		if (i % 2)
			CU_ASSERT_EQUAL(sd_io_store(v, &r, buf, cuts[i - 1], cuts[i + 1]), 0);
	}
	CU_ASSERT_NOT_EQUAL(memcmp(buf, data, CHUNK), 0);
	CU_ASSERT_EQUAL(sd_io_write_finish(v, &r), 0);
	CU_ASSERT_EQUAL(read_req(v, r.offset, CHUNK, got), 0);
	CU_ASSERT_EQUAL(memcmp(got, data, CHUNK), 0);
	check_independent(v, data, CHUNK, r.offset);
	CU_ASSERT_EQUAL(sd_io_seal(v, x, &keyed, &r, buf, 512, 4096), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(sd_io_seal(v, x, &keyed, &r, buf, 0, CHUNK + 4096), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(sd_io_store(v, &r, buf, 4096, 0), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(sd_io_store(v, &r, buf, 0, CHUNK + 4096), SD_NBD_EINVAL);
	r.error = SD_NBD_ENOSPC;
	CU_ASSERT_EQUAL(sd_io_seal(v, x, &keyed, &r, buf, 0, 4096), SD_NBD_ENOSPC);
	CU_ASSERT_EQUAL(sd_io_store(v, &r, buf, 0, 4096), SD_NBD_ENOSPC);
	CU_ASSERT_EQUAL(sd_io_write_finish(v, &r), SD_NBD_ENOSPC);
	r = (struct sd_nbd_req){ .type = SD_NBD_CMD_READ, .offset = 0, .len = 4096 };
	CU_ASSERT_EQUAL(sd_io_seal(v, x, &keyed, &r, buf, 0, 4096), SD_NBD_EINVAL);
	sd_xts_free(x);
	sd_volume_close(v);
	free(data);
	free(buf);
	free(got);
}

/* LUKS1 made by cryptsetup itself: 512-byte sectors, and the same check. */
static void test_open_luks1(void)
{
	struct sd_volume *v = NULL;
	uint8_t *data = malloc(CHUNK);
	char cmd[1024];

	paths("luks1");
	make_keys();
	CU_ASSERT_FATAL(data && getrandom(data, CHUNK, 0) == CHUNK);
	snprintf(cmd, sizeof(cmd),
		 "truncate -s 12M %s && cryptsetup luksFormat --batch-mode --type luks1 "
		 "--pbkdf-force-iterations 1000 --key-file %s %s", img, keyfile, img);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL_FATAL(sd_volume_open(img, keyfile, false, &v), 0);
	CU_ASSERT_EQUAL(v->luks_version, 1);
	CU_ASSERT_EQUAL(v->sector_size, 512);
	CU_ASSERT_EQUAL(v->size, (12u << 20) - v->data_offset);
	CU_ASSERT_EQUAL(write_through(v, data, CHUNK, 512 * 1001), 0);
	check_independent(v, data, CHUNK, 512 * 1001);
	sd_volume_close(v);
	free(data);
}

static const struct bh_test volume_tests[] = {
	{ "reads through the mapped view: coherent, grow, truncation", test_view },
	{ "create LUKS2, write, decrypt independently", test_create_luks2 },
	{ "open: same key, wrong key -EPERM, not LUKS", test_open_keys },
	{ "grow the data area", test_grow },
	{ "WRITE sealed and stored in pieces as it arrives, FUA", test_sealed_write },
	{ "crypto-erase: keyslots and header gone", test_erase },
	{ "open LUKS1 from cryptsetup, decrypt independently", test_open_luks1 },
	{ NULL, NULL },
};

static const struct bh_suite suites[] = {
	{ "volume", volume_tests },
	{ NULL, NULL },
};

int main(void)
{
	int r = bh_test_main(suites);

	test_dir_cleanup();
	return r;
}
