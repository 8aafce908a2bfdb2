/* hub.files._resident_block: a block of a resident file (whole lines, no quote) read in one pass into the
 * tuples of PostgreSQL's binary COPY format, when every row of it is valid in the forms most files use.
 *
 * This is the fast path of hub.files.resident_copy and nothing more: it answers None for any block it cannot
 * prove valid in every row, and the caller then reads that block row by row with hub.files.residents, which
 * says what is wrong and where. What it writes is byte for byte what the row-by-row reading writes
 * (tests/hub/test_files_resident_copy.py compares the two on generated and hostile files).
 *
 * The rules that need Unicode data or rarely apply stay in Python and are asked through callbacks: dates in
 * forms other than 19480401, 1948/4/1 and S23.4.1; kana this file's tables do not cover; 異動区分/異動日.
 * The kana and era tables themselves come from Python (configure), made from unicodedata and hub.files.dates,
 * so that the two readings cannot drift apart.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define FIELDS 11
#define MAX_ADDRESSEE 20
#define MAX_NAME 100
#define MAX_ADDRESS 200
#define MAX_KANA_CHARS 512
#define MAX_WIDTH 64

enum { C_CODE, C_ADDRESSEE, C_VOUCHER, C_MY_NUMBER, C_NAME, C_KANA, C_BIRTH, C_SEX, C_ADDRESS, C_MOVEMENT, C_MOVED };

/* ---- tables set once by configure() ------------------------------------------------------------------------ */

/* NFKC of each code point U+3000-U+30FF and U+FF00-U+FFFF as one code point of U+3000-U+30FF or a space, 0 when
 * it is not that simple (then the kana goes to Python). */
static uint32_t nfkc_cjk[256], nfkc_halfwidth[256];
/* The composition of U+3000+i with a voiced (U+3099) or semi-voiced (U+309A) sound mark, 0 if none. */
static uint32_t voiced[256], semi_voiced[256];
/* hub.files.text.fold_kana of U+3000+i: the code point, or 0 when it is dropped. */
static uint32_t fold[256];
typedef struct {
    char letter;
    int year_before;
    int32_t first, last; /* proleptic Gregorian ordinals, as date.toordinal() */
} Era;
static Era eras[16];
static int era_count = 0;
static int configured = 0;

/* ---- SHA-256 (FIPS 180-4) and HMAC of a 12-byte message ---------------------------------------------------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};
static const uint32_t SHA256_IV[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block_portable(uint32_t h[8], const uint8_t *block) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 |
               (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_SHA_EXTENSIONS 1

/* The same with the x86 SHA extensions, where the CPU has them: a twentieth of the instructions, and the
 * digests were most of what the C reader spent on a row. The state is kept in the order the instructions
 * want it, (a, b, e, f) and (c, d, g, h), and the message schedule four words at a time. */
__attribute__((target("sha,sse4.1,ssse3"))) static void sha256_block_x86(uint32_t h[8], const uint8_t *block) {
    const __m128i big_endian = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i cdab = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);
    __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    const __m128i abef_before = abef, cdgh_before = cdgh;
    __m128i w[16];
    for (int i = 0; i < 16; i++) {
        if (i < 4)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 16 * i)), big_endian);
        else
            w[i] = _mm_sha256msg2_epu32(
                _mm_add_epi32(_mm_sha256msg1_epu32(w[i - 4], w[i - 3]), _mm_alignr_epi8(w[i - 1], w[i - 2], 4)),
                w[i - 1]);
        __m128i wk = _mm_add_epi32(w[i], _mm_loadu_si128((const __m128i *)&K256[4 * i]));
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk); /* two rounds: the new (a, b, e, f) */
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
    }
    __m128i feba = _mm_shuffle_epi32(_mm_add_epi32(abef, abef_before), 0x1B);
    __m128i dchg = _mm_shuffle_epi32(_mm_add_epi32(cdgh, cdgh_before), 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
}
#endif

/* The extensions when the CPU has them (set at import; use_sha256 can choose, for the tests of both). */
static void (*sha256_block)(uint32_t h[8], const uint8_t *block) = sha256_block_portable;

static int has_sha_extensions(void) {
#ifdef HAVE_SHA_EXTENSIONS
    __builtin_cpu_init();
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
#else
    return 0;
#endif
}

/* One last block holding `size` bytes of message after `before` bytes already hashed (size + 9 <= 64). */
static void sha256_last(uint32_t h[8], const uint8_t *data, int size, uint64_t before) {
    uint8_t block[64];
    memset(block, 0, sizeof block);
    memcpy(block, data, (size_t)size);
    block[size] = 0x80;
    uint64_t bits = (before + (uint64_t)size) * 8;
    for (int i = 0; i < 8; i++) block[63 - i] = (uint8_t)(bits >> (8 * i));
    sha256_block(h, block);
}

static void state_bytes(const uint32_t h[8], uint8_t out[32]) {
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

/* HMAC-SHA256 (RFC 2104) from the states after the key's inner and outer pads. */
static void hmac_digest(const uint32_t inner[8], const uint32_t outer[8], const uint8_t *message, int size,
                        uint8_t out[32]) {
    uint32_t h[8];
    uint8_t inner_digest[32];
    memcpy(h, inner, sizeof h);
    sha256_last(h, message, size, 64);
    state_bytes(h, inner_digest);
    memcpy(h, outer, sizeof h);
    sha256_last(h, inner_digest, 32, 64);
    state_bytes(h, out);
}

/* ---- growing output ------------------------------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t size, capacity;
} Buffer;

static int buffer_reserve(Buffer *b, size_t more) {
    if (b->size + more <= b->capacity) return 0;
    size_t capacity = b->capacity ? b->capacity : 1 << 16;
    while (capacity < b->size + more) capacity *= 2;
    char *data = PyMem_Realloc(b->data, capacity);
    if (data == NULL) return -1;
    b->data = data;
    b->capacity = capacity;
    return 0;
}

static inline void put(Buffer *b, const char *text, size_t size) {
    memcpy(b->data + b->size, text, size);
    b->size += size;
}

static inline void put_char(Buffer *b, char c) { b->data[b->size++] = c; }

/* ---- characters ------------------------------------------------------------------------------------------------ */

/* The code point at p (valid UTF-8: checked by valid_utf8 or written by cp932_utf8) and its length in bytes. */
static inline uint32_t decode(const unsigned char *p, int *length) {
    if (p[0] < 0x80) { *length = 1; return p[0]; }
    if (p[0] < 0xE0) { *length = 2; return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F); }
    if (p[0] < 0xF0) { *length = 3; return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F); }
    *length = 4;
    return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
}

static inline int encode(uint32_t c, char *out) {
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) { out[0] = (char)(0xC0 | c >> 6); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    out[0] = (char)(0xE0 | c >> 12);
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3; /* only code points below U+10000 are written */
}

/* What str.strip() takes (str.isspace(), Python 3.11). */
static inline int is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* hub.files.text.has_control_character (surrogates never reach here: valid_utf8 lets none through). */
static inline int is_control(uint32_t c) {
    return c <= 0x1F || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029;
}

typedef struct {
    const char *text;
    Py_ssize_t size;
} Field;

/* str.strip() of a field. */
static Field strip(Field f) {
    const unsigned char *p = (const unsigned char *)f.text, *end = p + f.size;
    int length;
    while (p < end && is_space(decode(p, &length))) p += length;
    while (end > p) {
        const unsigned char *last = end - 1;
        while (last > p && (*last & 0xC0) == 0x80) last--;
        if (!is_space(decode(last, &length))) break;
        end = last;
    }
    return (Field){(const char *)p, end - p};
}

/* The number of characters of a field, or -1 if it holds a control character. */
static Py_ssize_t characters_without_control(Field f) {
    const unsigned char *p = (const unsigned char *)f.text, *end = p + f.size;
    Py_ssize_t count = 0;
    int length;
    while (p < end) {
        if (*p < 0x80) {
            if (*p <= 0x1F || *p == 0x7F) return -1;
            p++;
        } else {
            if (is_control(decode(p, &length))) return -1;
            p += length;
        }
        count++;
    }
    return count;
}

static inline int all_digits(Field f) {
    for (Py_ssize_t i = 0; i < f.size; i++)
        if (f.text[i] < '0' || f.text[i] > '9') return 0;
    return 1;
}

static inline int number_at(const char *p, int size) {
    int value = 0;
    for (int i = 0; i < size; i++) value = value * 10 + (p[i] - '0');
    return value;
}

static inline int field_is(Field f, const char *text) {
    size_t size = strlen(text);
    return (size_t)f.size == size && memcmp(f.text, text, size) == 0;
}

/* ---- dates ------------------------------------------------------------------------------------------------------ */

static const int DAYS_BEFORE_MONTH[13] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

static inline int is_leap(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

/* date(year, month, day).toordinal(), or 0 if there is no such day. */
static int32_t ordinal(int year, int month, int day) {
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1) return 0;
    int days_in_month = month == 2 ? 28 + is_leap(year) : 31 - ((month == 4) | (month == 6) | (month == 9) | (month == 11));
    if (day > days_in_month) return 0;
    int before = year - 1;
    return before * 365 + before / 4 - before / 100 + before / 400 + DAYS_BEFORE_MONTH[month] +
           (month > 2 && is_leap(year)) + day;
}

static inline int is_separator(char c) { return c == '-' || c == '/' || c == '.'; }

/* Digits from text[*at], at least `least` and at most `most` of them; -1 if fewer. */
static int digits_at(Field f, Py_ssize_t *at, int least, int most) {
    Py_ssize_t start = *at;
    while (*at < f.size && *at - start < most && f.text[*at] >= '0' && f.text[*at] <= '9') (*at)++;
    if (*at - start < least) return -1;
    return number_at(f.text + start, (int)(*at - start));
}

/* The ordinal of 19480401, 1948/4/1 (- or . too, the same twice) or S23.4.1 (any of - / . each), as
 * hub.files.dates.parse_date reads them; 0 if the text is none of these forms or no such day. */
static int32_t read_date(Field f) {
    if (f.size == 8 && all_digits(f))
        return ordinal(number_at(f.text, 4), number_at(f.text + 4, 2), number_at(f.text + 6, 2));
    Py_ssize_t at = 0;
    if (f.size >= 8 && f.text[0] >= '0' && f.text[0] <= '9') {
        int year = digits_at(f, &at, 4, 4);
        if (year < 0 || at >= f.size || !is_separator(f.text[at])) return 0;
        char separator = f.text[at++];
        int month = digits_at(f, &at, 1, 2);
        if (month < 0 || at >= f.size || f.text[at++] != separator) return 0;
        int day = digits_at(f, &at, 1, 2);
        if (day < 0 || at != f.size) return 0;
        return ordinal(year, month, day);
    }
    if (f.size < 6) return 0;
    const Era *era = NULL;
    for (int i = 0; i < era_count; i++)
        if (eras[i].letter == f.text[0]) era = &eras[i];
    if (era == NULL) return 0;
    at = 1;
    int era_year = digits_at(f, &at, 1, 3);
    if (era_year < 1 || at >= f.size || !is_separator(f.text[at++])) return 0;
    int month = digits_at(f, &at, 1, 2);
    if (month < 0 || at >= f.size || !is_separator(f.text[at++])) return 0;
    int day = digits_at(f, &at, 1, 2);
    if (day < 0 || at != f.size) return 0;
    int32_t value = ordinal(era->year_before + era_year, month, day);
    if (value == 0 || value < era->first || value > era->last) return 0;
    return value;
}

/* ---- PostgreSQL's binary COPY tuples ------------------------------------------------------------------------------ */

/* Days from 2000-01-01, as a binary date. */
#define POSTGRES_EPOCH 730120

static inline void put_int16(Buffer *b, int value) {
    put_char(b, (char)((value >> 8) & 0xFF));
    put_char(b, (char)(value & 0xFF));
}

static inline void put_int32(Buffer *b, int32_t value) {
    uint32_t bits = (uint32_t)value;
    put_char(b, (char)(bits >> 24));
    put_char(b, (char)((bits >> 16) & 0xFF));
    put_char(b, (char)((bits >> 8) & 0xFF));
    put_char(b, (char)(bits & 0xFF));
}

static inline void put_text(Buffer *b, const char *text, Py_ssize_t size) {
    put_int32(b, (int32_t)size);
    put(b, text, (size_t)size);
}

static inline void put_date(Buffer *b, int32_t ordinal_value) {
    put_int32(b, 4);
    put_int32(b, ordinal_value - POSTGRES_EPOCH);
}

static inline void put_null(Buffer *b) { put_int32(b, -1); }

/* ---- the block's bytes as UTF-8 ------------------------------------------------------------------------------- */

/* CP932 as Python's codec reads it, from configure(): a byte's character, or CP932_LEAD when it starts a pair, or
 * CP932_BAD; a pair's character, or 0 when the pair is not CP932 (no pair stands for U+0000). */
#define CP932_LEAD 0x110000u
#define CP932_BAD 0x110001u
static uint32_t cp932_single[256];
static uint16_t cp932_pairs[0x10000];

/* Whether the 8 bytes at p are all ASCII (a file's digits and commas come in runs). */
static inline int ascii8(const unsigned char *p) {
    uint64_t word;
    memcpy(&word, p, 8);
    return (word & 0x8080808080808080ull) == 0;
}

/* Whether the bytes are UTF-8 as Python's strict decoder takes it (no surrogate, no overlong form, nothing above
 * U+10FFFF): the reader's characters are then those Python would read. */
static int valid_utf8(const unsigned char *p, Py_ssize_t size) {
    const unsigned char *end = p + size;
    while (p < end) {
        if (p[0] < 0x80) {
            p += end - p >= 8 && ascii8(p) ? 8 : 1;
            continue;
        }
        unsigned char lo = 0x80, hi = 0xBF;
        int more;
        if (p[0] >= 0xC2 && p[0] <= 0xDF) more = 1;
        else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
            more = 2;
            if (p[0] == 0xE0) lo = 0xA0;
            if (p[0] == 0xED) hi = 0x9F;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
            more = 3;
            if (p[0] == 0xF0) lo = 0x90;
            if (p[0] == 0xF4) hi = 0x8F;
        } else return 0;
        if (end - p <= more || p[1] < lo || p[1] > hi) return 0;
        for (int i = 2; i <= more; i++)
            if ((p[i] & 0xC0) != 0x80) return 0;
        p += more + 1;
    }
    return 1;
}

/* CP932 bytes as UTF-8 into `out`, as bytes.decode("cp932").encode() writes them; 0 if a byte or pair is not CP932,
 * -1 if out of memory. */
static int cp932_utf8(const unsigned char *p, Py_ssize_t size, Buffer *out) {
    /* A byte becomes at most 3 bytes of UTF-8 (U+0080 and above), a pair at most 3. */
    if (buffer_reserve(out, (size_t)size * 3) < 0) return -1;
    const unsigned char *end = p + size;
    char *o = out->data + out->size;
    while (p < end) {
        uint32_t c = cp932_single[p[0]];
        if (c < 0x80) { /* ASCII is itself in CP932 (read_cp932 holds it so) */
            if (end - p >= 8 && ascii8(p)) {
                memcpy(o, p, 8);
                o += 8;
                p += 8;
            } else {
                *o++ = (char)c;
                p++;
            }
            continue;
        }
        if (c == CP932_LEAD) {
            if (end - p < 2 || (c = cp932_pairs[p[0] << 8 | p[1]]) == 0) return 0;
            p += 2;
        } else if (c == CP932_BAD) {
            return 0;
        } else {
            p++;
        }
        o += encode(c, o);
    }
    out->size = (size_t)(o - out->data);
    return 1;
}

/* A block as UTF-8 in *text: the bytes themselves when they are UTF-8, else (cp932) their transcoding into
 * `scratch`, emptied first. 1, or 0 if they are not text in that encoding, or -1 (a MemoryError set). */
static int block_utf8(const char *block, Py_ssize_t size, int cp932, Buffer *scratch, Field *text) {
    if (!cp932) {
        *text = (Field){block, size};
        return valid_utf8((const unsigned char *)block, size);
    }
    scratch->size = 0;
    int readable = cp932_utf8((const unsigned char *)block, size, scratch);
    if (readable < 0) PyErr_NoMemory();
    *text = (Field){scratch->data, (Py_ssize_t)scratch->size};
    return readable;
}

/* ---- the reader ------------------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    char code[8];
    Py_ssize_t code_size;
    int32_t earliest, today;
    uint32_t inner[8], outer[8];
    int stage;
    PyObject *read_date;     /* text -> ordinal or None */
    PyObject *read_kana;     /* text -> (normal form, kana key) or None */
    PyObject *read_movement; /* (異動区分, 異動日, birth ordinal) -> (status, ordinal of 異動日 or 0) or None */
    Buffer utf8;             /* a CP932 block as UTF-8, kept from one block to the next */
    int reading;             /* read() is under way (a callback must not start another) */
} Reader;

/* The callbacks are usually bound methods of the object that holds this reader: a cycle for the collector. */
static int reader_traverse(Reader *self, visitproc visit, void *arg) {
    Py_VISIT(self->read_date);
    Py_VISIT(self->read_kana);
    Py_VISIT(self->read_movement);
    return 0;
}

static int reader_clear(Reader *self) {
    Py_CLEAR(self->read_date);
    Py_CLEAR(self->read_kana);
    Py_CLEAR(self->read_movement);
    return 0;
}

static void reader_dealloc(Reader *self) {
    PyObject_GC_UnTrack(self);
    reader_clear(self);
    PyMem_Free(self->utf8.data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int pad_state(PyObject *pad, uint32_t state[8]) {
    if (!PyBytes_Check(pad) || PyBytes_GET_SIZE(pad) != 64) {
        PyErr_SetString(PyExc_ValueError, "a key pad is 64 bytes");
        return -1;
    }
    memcpy(state, SHA256_IV, sizeof SHA256_IV);
    sha256_block(state, (const uint8_t *)PyBytes_AS_STRING(pad));
    return 0;
}

static int reader_init(Reader *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"municipality_code", "earliest", "today", "inner_pad", "outer_pad", "stage",
                               "read_date", "read_kana", "read_movement", NULL};
    const char *code;
    Py_ssize_t code_size;
    PyObject *inner_pad, *outer_pad, *read_date_, *read_kana, *read_movement;
    int earliest, today, stage;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s#iiSSpOOO", keywords, &code, &code_size, &earliest, &today,
                                     &inner_pad, &outer_pad, &stage, &read_date_, &read_kana, &read_movement))
        return -1;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return -1;
    }
    if (code_size < 1 || code_size >= (Py_ssize_t)sizeof self->code) {
        PyErr_SetString(PyExc_ValueError, "a municipality code is 6 digits");
        return -1;
    }
    if (pad_state(inner_pad, self->inner) < 0 || pad_state(outer_pad, self->outer) < 0) return -1;
    memcpy(self->code, code, (size_t)code_size);
    self->code_size = code_size;
    self->earliest = earliest;
    self->today = today;
    self->stage = stage;
    Py_XSETREF(self->read_date, Py_NewRef(read_date_));
    Py_XSETREF(self->read_kana, Py_NewRef(read_kana));
    Py_XSETREF(self->read_movement, Py_NewRef(read_movement));
    return 0;
}

/* Answers of a row's checks: 1 valid, 0 not provably valid here (the block goes row by row), -1 a Python error. */

/* The UTF-8 of a str from Python; 0 if it is not a str. */
static int utf8_text(PyObject *text, Field *out) {
    if (!PyUnicode_Check(text)) return 0;
    out->text = PyUnicode_AsUTF8AndSize(text, &out->size);
    return out->text == NULL ? -1 : 1;
}

static PyObject *field_str(Field f) { return PyUnicode_DecodeUTF8(f.text, f.size, "strict"); }

/* Write a kana name's NFKC form (surrounding spaces dropped) and its key to `normal` and `key` (each at least
 * 4 * MAX_KANA_CHARS bytes); their sizes to *normal_size, *key_size. */
static int read_kana(Reader *self, Field f, char *normal, Py_ssize_t *normal_size, char *key, Py_ssize_t *key_size,
                     PyObject **held) {
    uint32_t chars[MAX_KANA_CHARS];
    int count = 0, simple = f.size <= 3 * MAX_NAME;
    const unsigned char *p = (const unsigned char *)f.text, *end = p + f.size;
    while (simple && p < end) {
        int length;
        uint32_t c = decode(p, &length), mapped = 0;
        p += length;
        if (c == ' ') {
            mapped = ' ';
        } else if (c >= 0x3000 && c <= 0x30FF) {
            mapped = nfkc_cjk[c - 0x3000];
        } else if (c == 0xFF9E || c == 0xFF9F) {
            /* A half-width sound mark composes with the character before it. */
            uint32_t before = count ? chars[count - 1] : 0;
            uint32_t composed = before >= 0x3000 && before <= 0x30FF
                                    ? (c == 0xFF9E ? voiced : semi_voiced)[before - 0x3000] : 0;
            if (composed) {
                chars[count - 1] = composed;
                continue;
            }
        } else if (c >= 0xFF00 && c <= 0xFFFF) {
            mapped = nfkc_halfwidth[c - 0xFF00];
        }
        if (mapped == 0) simple = 0;
        else chars[count++] = mapped;
    }
    if (simple) {
        int first = 0, last = count;
        while (first < last && chars[first] == ' ') first++;
        while (last > first && chars[last - 1] == ' ') last--;
        if (last == first || last - first > MAX_NAME) return 0;
        Py_ssize_t n = 0, k = 0;
        for (int i = first; i < last; i++) {
            n += encode(chars[i], normal + n);
            uint32_t folded = chars[i] == ' ' ? 0 : fold[chars[i] - 0x3000];
            if (folded) k += encode(folded, key + k);
        }
        *normal_size = n;
        *key_size = k;
        return 1;
    }
    /* The rest as hub.files.residents reads it, in Python. */
    PyObject *text = field_str(f);
    if (text == NULL) return -1;
    PyObject *answer = PyObject_CallOneArg(self->read_kana, text);
    Py_DECREF(text);
    if (answer == NULL) return -1;
    if (answer == Py_None) {
        Py_DECREF(answer);
        return 0;
    }
    Field normal_text, key_text;
    int ok = PyTuple_Check(answer) && PyTuple_GET_SIZE(answer) == 2;
    if (ok) ok = utf8_text(PyTuple_GET_ITEM(answer, 0), &normal_text);
    if (ok == 1) ok = utf8_text(PyTuple_GET_ITEM(answer, 1), &key_text);
    if (ok == 1 && (normal_text.size > 4 * MAX_KANA_CHARS || key_text.size > 4 * MAX_KANA_CHARS)) ok = 0;
    if (ok == 1) {
        memcpy(normal, normal_text.text, (size_t)normal_text.size);
        memcpy(key, key_text.text, (size_t)key_text.size);
        *normal_size = normal_text.size;
        *key_size = key_text.size;
    }
    *held = answer; /* the caller drops it */
    return ok;
}

/* The ordinal of a birth date, asking Python for forms read_date does not know; 0 if none. */
static int32_t date_of(Reader *self, Field f) {
    int32_t value = read_date(f);
    if (value) return value;
    PyObject *text = field_str(f);
    if (text == NULL) return -1;
    PyObject *answer = PyObject_CallOneArg(self->read_date, text);
    Py_DECREF(text);
    if (answer == NULL) return -1;
    long found = answer == Py_None ? 0 : PyLong_AsLong(answer);
    Py_DECREF(answer);
    if (found == -1 && PyErr_Occurred()) return -1;
    return (int32_t)found;
}

static const char *SEX_TEXTS[][2] = {{"1", "1"}, {"2", "2"}, {"男", "1"}, {"女", "2"}, {"男性", "1"}, {"女性", "2"}};

static int read_row(Reader *self, Field *c, long line, Buffer *rows, Buffer *digests, PyObject *addressees,
                    PyObject *vouchers) {
    /* 自治体コード: this municipality's, as written. */
    if (c[C_CODE].size != self->code_size || memcmp(c[C_CODE].text, self->code, (size_t)self->code_size) != 0)
        return 0;

    /* 宛名番号: 1-20 ASCII letters and digits; its key for repeats is int("1" + digits), or the text. */
    Field addressee = c[C_ADDRESSEE];
    if (addressee.size < 1 || addressee.size > MAX_ADDRESSEE) return 0;
    int digits = 1;
    for (Py_ssize_t i = 0; i < addressee.size; i++) {
        char x = addressee.text[i];
        if (x >= '0' && x <= '9') continue;
        if (!((x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z'))) return 0;
        digits = 0;
    }
    PyObject *addressee_key;
    if (digits && addressee.size <= 18) {
        unsigned long long key = 1;
        for (Py_ssize_t i = 0; i < addressee.size; i++) key = key * 10 + (unsigned long long)(addressee.text[i] - '0');
        addressee_key = PyLong_FromUnsignedLongLong(key);
    } else if (digits) {
        char text[MAX_ADDRESSEE + 2];
        text[0] = '1';
        memcpy(text + 1, addressee.text, (size_t)addressee.size);
        text[addressee.size + 1] = '\0';
        addressee_key = PyLong_FromString(text, NULL, 10);
    } else {
        addressee_key = field_str(addressee);
    }
    if (addressee_key == NULL) return -1;
    int failed = PyList_Append(addressees, addressee_key);
    Py_DECREF(addressee_key);
    if (failed) return -1;

    /* 接種券番号: 10 ASCII digits. */
    Field voucher = c[C_VOUCHER];
    if (voucher.size != 10 || !all_digits(voucher)) return 0;
    PyObject *voucher_key = PyLong_FromLongLong((long long)number_at(voucher.text, 5) * 100000 +
                                                number_at(voucher.text + 5, 5));
    if (voucher_key == NULL) return -1;
    failed = PyList_Append(vouchers, voucher_key);
    Py_DECREF(voucher_key);
    if (failed) return -1;

    /* 個人番号: blank, or 12 ASCII digits with their check digit; kept only as its HMAC (32 bytes). */
    Field my_number = c[C_MY_NUMBER];
    uint8_t digest[32];
    if (my_number.size) {
        if (my_number.size != 12 || !all_digits(my_number)) return 0;
        static const int weights[11] = {6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
        int total = 0;
        for (int i = 0; i < 11; i++) total += weights[i] * (my_number.text[i] - '0');
        int remainder = total % 11, check = remainder <= 1 ? 0 : 11 - remainder;
        if (my_number.text[11] - '0' != check) return 0;
        hmac_digest(self->inner, self->outer, (const uint8_t *)my_number.text, 12, digest);
    }

    /* 氏名: as written without surrounding spaces; 1-100 characters, no control character. */
    Field name = strip(c[C_NAME]);
    Py_ssize_t characters = characters_without_control(name);
    if (characters < 1 || characters > MAX_NAME) return 0;

    /* 氏名カナ: NFKC (half-width kana become full-width), and its key. */
    char normal[4 * MAX_KANA_CHARS], key[4 * MAX_KANA_CHARS];
    Py_ssize_t normal_size, key_size;
    PyObject *held = NULL;
    int answer = read_kana(self, c[C_KANA], normal, &normal_size, key, &key_size, &held);
    Py_XDECREF(held);
    if (answer != 1) return answer;

    /* 生年月日: a day from 1890 to today. */
    int32_t birth = date_of(self, c[C_BIRTH]);
    if (birth < 0) return -1;
    if (birth == 0 || birth < self->earliest || birth > self->today) return 0;

    /* 性別. */
    const char *sex = NULL;
    for (size_t i = 0; i < sizeof SEX_TEXTS / sizeof SEX_TEXTS[0]; i++)
        if (field_is(c[C_SEX], SEX_TEXTS[i][0])) sex = SEX_TEXTS[i][1];
    if (sex == NULL) return 0;

    /* 住所: may be blank; at most 200 characters, no control character. */
    Field address = strip(c[C_ADDRESS]);
    characters = characters_without_control(address);
    if (characters < 0 || characters > MAX_ADDRESS) return 0;

    /* 異動区分/異動日: both blank for most; the rest as hub.files.resident_copy reads them. */
    Field status = {"active", 6};
    long moved_on = 0;
    PyObject *movement = NULL;
    if (c[C_MOVEMENT].size || c[C_MOVED].size) {
        PyObject *movement_text = field_str(c[C_MOVEMENT]);
        PyObject *moved_text = movement_text ? field_str(c[C_MOVED]) : NULL;
        if (moved_text)
            movement = PyObject_CallFunction(self->read_movement, "OOl", movement_text, moved_text, (long)birth);
        Py_XDECREF(movement_text);
        Py_XDECREF(moved_text);
        if (movement == NULL) return -1;
        int ok = movement != Py_None && PyTuple_Check(movement) && PyTuple_GET_SIZE(movement) == 2;
        if (ok) ok = utf8_text(PyTuple_GET_ITEM(movement, 0), &status);
        if (ok == 1) {
            moved_on = PyLong_AsLong(PyTuple_GET_ITEM(movement, 1));
            if (moved_on == -1 && PyErr_Occurred()) ok = -1;
            else if (moved_on < 0 || moved_on > 3652059) ok = 0;
        }
        if (ok != 1) {
            Py_DECREF(movement);
            return ok;
        }
    }

    /* The row as a tuple of PostgreSQL's binary COPY format: a field count, then each field's length (-1: NULL)
     * and bytes. */
    size_t size = 12 * 4 + 2 + 4 + (size_t)(self->code_size + addressee.size + voucher.size + name.size +
                                            normal_size + key_size + address.size + status.size) + 32 + 3 * 4 + 2;
    if (buffer_reserve(rows, size) < 0 || buffer_reserve(digests, 128) < 0) {
        Py_XDECREF(movement);
        PyErr_NoMemory();
        return -1;
    }
    put_int16(rows, self->stage ? 12 : 11);
    if (self->stage) {
        put_int32(rows, 4);
        put_int32(rows, (int32_t)line);
    } else {
        put_text(rows, self->code, self->code_size);
    }
    put_text(rows, addressee.text, addressee.size);
    put_text(rows, voucher.text, 10);
    if (self->stage) {
        if (my_number.size) put_text(rows, (const char *)digest, 32);
        else put_null(rows);
    }
    put_text(rows, name.text, name.size);
    put_text(rows, normal, normal_size);
    put_text(rows, key, key_size);
    put_date(rows, birth);
    put_int32(rows, 2);
    put_int16(rows, sex[0] - '0');
    put_text(rows, address.text, address.size);
    put_text(rows, status.text, status.size);
    if (moved_on) put_date(rows, (int32_t)moved_on);
    else put_null(rows);
    Py_XDECREF(movement);
    if (!self->stage && my_number.size) {
        put_int16(digests, 3);
        put_text(digests, self->code, self->code_size);
        put_text(digests, addressee.text, addressee.size);
        put_text(digests, (const char *)digest, 32);
    }
    return 1;
}

static PyObject *reader_read(Reader *self, PyObject *args) {
    PyObject *order_tuple;
    const char *block;
    Py_ssize_t block_size;
    long first_line;
    int cp932, width;
    if (!PyArg_ParseTuple(args, "y#pliO!", &block, &block_size, &cp932, &first_line, &width, &PyTuple_Type,
                          &order_tuple))
        return NULL;
    if (PyTuple_GET_SIZE(order_tuple) != FIELDS || width < FIELDS) {
        PyErr_SetString(PyExc_ValueError, "order names the 11 columns of the header");
        return NULL;
    }
    if (width > MAX_WIDTH) Py_RETURN_NONE; /* a header with that many columns of its own: read row by row */
    int order[FIELDS];
    for (int i = 0; i < FIELDS; i++) {
        order[i] = (int)PyLong_AsLong(PyTuple_GET_ITEM(order_tuple, i));
        if (order[i] < 0 || order[i] >= width) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "a column index is outside the header");
            return NULL;
        }
    }
    if (self->read_date == NULL || self->read_kana == NULL || self->read_movement == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the reader was not made, or was cleared");
        return NULL;
    }
    /* A quote is never part of a character of either encoding (nor is a comma or a line feed). */
    if (block_size == 0 || memchr(block, '"', (size_t)block_size) != NULL) Py_RETURN_NONE;

    if (self->reading) {
        PyErr_SetString(PyExc_RuntimeError, "read() within read()");
        return NULL;
    }
    self->reading = 1;
    Buffer rows = {0}, digests = {0};
    PyObject *addressees = NULL, *vouchers = NULL, *result = NULL;
    Field text;
    int readable = block_utf8(block, block_size, cp932, &self->utf8, &text);
    if (readable < 0) goto done;
    if (readable == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    addressees = PyList_New(0);
    vouchers = PyList_New(0);
    if (addressees == NULL || vouchers == NULL) goto done;
    const char *p = text.text, *end = text.text + text.size;
    long line = first_line;
    int answer = 1;
    while (p < end && answer == 1) {
        const char *line_end = memchr(p, '\n', (size_t)(end - p));
        const char *next = line_end ? line_end + 1 : end;
        if (line_end == NULL) line_end = end;
        else if (line_end > p && line_end[-1] == '\r') line_end--;
        Field fields[MAX_WIDTH];
        int count = 0;
        const char *start = p;
        for (const char *q = p; q < line_end; q++) {
            if (*q == '\r') { answer = 0; break; } /* a CR that ends no line: only the row reading says where */
            if (*q == ',') {
                if (count == width - 1) { answer = 0; break; }
                fields[count++] = (Field){start, q - start};
                start = q + 1;
            }
        }
        if (answer != 1 || count != width - 1) { answer = 0; break; }
        fields[count] = (Field){start, line_end - start};
        if (fields[0].size == 0) { answer = 0; break; } /* blank lines and ",,,," rows, read row by row */
        Field columns[FIELDS];
        for (int i = 0; i < FIELDS; i++) columns[i] = fields[order[i]];
        answer = read_row(self, columns, line, &rows, &digests, addressees, vouchers);
        p = next;
        line++;
    }
    if (answer < 0) goto done;
    if (answer == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *rows_bytes = PyBytes_FromStringAndSize(rows.data, (Py_ssize_t)rows.size);
    PyObject *digests_bytes = rows_bytes ? PyBytes_FromStringAndSize(digests.data, (Py_ssize_t)digests.size) : NULL;
    if (digests_bytes) result = PyTuple_Pack(4, rows_bytes, digests_bytes, addressees, vouchers);
    Py_XDECREF(rows_bytes);
    Py_XDECREF(digests_bytes);
done:
    self->reading = 0;
    PyMem_Free(rows.data);
    PyMem_Free(digests.data);
    Py_XDECREF(addressees);
    Py_XDECREF(vouchers);
    return result;
}

static PyMethodDef reader_methods[] = {
    {"read", (PyCFunction)reader_read, METH_VARARGS,
     "read(block, cp932, first_line, width, order) -> (rows, digests, addressee keys, voucher keys) or None"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hub.files._resident_block.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Reads the blocks of one resident file (see the module).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_traverse = (traverseproc)reader_traverse,
    .tp_clear = (inquiry)reader_clear,
    .tp_methods = reader_methods,
};

/* ---- configure ---------------------------------------------------------------------------------------------------- */

static int read_table(PyObject *sequence, uint32_t table[256]) {
    PyObject *fast = PySequence_Fast(sequence, "a table is a sequence of 256 code points");
    if (fast == NULL) return -1;
    if (PySequence_Fast_GET_SIZE(fast) != 256) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "a table holds 256 code points");
        return -1;
    }
    for (int i = 0; i < 256; i++) {
        long value = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (value < 0 || value >= 0x10000) {
            Py_DECREF(fast);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "a table's code point is below U+10000");
            return -1;
        }
        table[i] = (uint32_t)value;
    }
    Py_DECREF(fast);
    return 0;
}

/* configure()'s CP932: 256 code points of single bytes (-1 a lead byte, -2 no character) and the code points of the
 * pairs, 2 bytes each (little-endian, 0 for no character), for each lead byte and second byte. */
static int read_cp932(PyObject *single, PyObject *pairs) {
    PyObject *fast = PySequence_Fast(single, "CP932's bytes are a sequence of 256 code points");
    if (fast == NULL) return -1;
    int ok = PySequence_Fast_GET_SIZE(fast) == 256;
    for (int i = 0; ok && i < 256; i++) {
        long value = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        ok = !(value == -1 && PyErr_Occurred()) && value >= -2 && value < 0x10000 && (i >= 0x80 || value == i);
        cp932_single[i] = value == -1 ? CP932_LEAD : value == -2 ? CP932_BAD : (uint32_t)value;
    }
    Py_DECREF(fast);
    if (!ok) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "a CP932 byte is itself if ASCII, else a code point below U+10000, -1 or -2");
        return -1;
    }
    if (!PyBytes_Check(pairs) || PyBytes_GET_SIZE(pairs) != 2 * 0x10000) {
        PyErr_SetString(PyExc_ValueError, "CP932's pairs are 131072 bytes");
        return -1;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(pairs);
    for (int i = 0; i < 0x10000; i++) cp932_pairs[i] = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
    return 0;
}

static PyObject *configure(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *cjk, *halfwidth, *voiced_, *semi_voiced_, *fold_, *era_list, *single, *pairs;
    if (!PyArg_ParseTuple(args, "OOOOOOOO", &cjk, &halfwidth, &voiced_, &semi_voiced_, &fold_, &era_list, &single,
                          &pairs))
        return NULL;
    if (read_cp932(single, pairs) < 0) return NULL;
    if (read_table(cjk, nfkc_cjk) < 0 || read_table(halfwidth, nfkc_halfwidth) < 0 || read_table(voiced_, voiced) < 0 ||
        read_table(semi_voiced_, semi_voiced) < 0 || read_table(fold_, fold) < 0)
        return NULL;
    for (int i = 0; i < 256; i++) {
        /* What the kana path writes must stay within U+3000-U+30FF (or a space), and never be a mark. */
        uint32_t tables[4] = {nfkc_cjk[i], nfkc_halfwidth[i], voiced[i], semi_voiced[i]};
        for (int t = 0; t < 4; t++)
            if (tables[t] && tables[t] != ' ' && (tables[t] < 0x3000 || tables[t] > 0x30FF)) {
                PyErr_SetString(PyExc_ValueError, "kana tables map into U+3000-U+30FF");
                return NULL;
            }
    }
    PyObject *fast = PySequence_Fast(era_list, "eras are a sequence of (letter, year before, first, last)");
    if (fast == NULL) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    if (count > 16) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "at most 16 era letters");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *letter;
        Py_ssize_t letter_size;
        int year_before, first, last;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "s#iii", &letter, &letter_size, &year_before,
                              &first, &last) ||
            letter_size != 1) {
            Py_DECREF(fast);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "an era letter is one ASCII letter");
            return NULL;
        }
        eras[i] = (Era){letter[0], year_before, first, last};
    }
    era_count = (int)count;
    Py_DECREF(fast);
    configured = 1;
    Py_RETURN_NONE;
}

/* ---- the block as the reader reads it ------------------------------------------------------------------------- */

static PyObject *utf8(PyObject *Py_UNUSED(module), PyObject *args) {
    const char *block;
    Py_ssize_t size;
    int cp932;
    if (!PyArg_ParseTuple(args, "y#p", &block, &size, &cp932)) return NULL;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    Buffer scratch = {0};
    Field text;
    int readable = block_utf8(block, size, cp932, &scratch, &text);
    PyObject *result = readable < 0 ? NULL
                       : readable ? PyBytes_FromStringAndSize(text.text, text.size)
                                  : Py_NewRef(Py_None);
    PyMem_Free(scratch.data);
    return result;
}

/* ---- the SHA-256 in use ------------------------------------------------------------------------------------------ */

static PyObject *sha256_engines(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args)) {
    return has_sha_extensions() ? Py_BuildValue("(ss)", "portable", "x86") : Py_BuildValue("(s)", "portable");
}

static PyObject *use_sha256(PyObject *Py_UNUSED(module), PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    if (strcmp(name, "portable") == 0) {
        sha256_block = sha256_block_portable;
#ifdef HAVE_SHA_EXTENSIONS
    } else if (strcmp(name, "x86") == 0 && has_sha_extensions()) {
        sha256_block = sha256_block_x86;
#endif
    } else {
        PyErr_Format(PyExc_ValueError, "no SHA-256 engine %R here", PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(nfkc_cjk, nfkc_halfwidth, voiced, semi_voiced, fold, eras, cp932_bytes, cp932_pairs): the tables, once"},
    {"utf8", utf8, METH_VARARGS, "utf8(block, cp932) -> the block as UTF-8, as the reader reads it, or None"},
    {"sha256_engines", sha256_engines, METH_NOARGS,
     "sha256_engines() -> the SHA-256 implementations this CPU runs, the fastest last"},
    {"use_sha256", use_sha256, METH_VARARGS, "use_sha256(name): hash with that one of sha256_engines()"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_resident_block", "The fast path of hub.files.resident_copy.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__resident_block(void) {
    if (PyType_Ready(&ReaderType) < 0) return NULL;
#ifdef HAVE_SHA_EXTENSIONS
    if (has_sha_extensions()) sha256_block = sha256_block_x86;
#endif
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    if (PyModule_AddObjectRef(module, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
