#!/usr/bin/env python3
"""Second, independent check of the conformance vectors (conformance/vectors).

Written from SPEC.md alone, with the Python standard library and pyca
`cryptography` (>= 44, for Argon2id); it shares no code with the Rust crates.
For every vector of both profiles (fusecry/1 and legacy-0.11) it opens the
conf (and, for conf vectors, checks whether the secret vouches for it, §4.5),
then reads the file, stream, name or symlink target, or walks the
volume tree (every entry, its on-disk path and the one damaged entry against
the manifest), and compares the result, or the failure class of SPEC §13, with
the vector. For vectors marked `reproducible` it also re-encrypts from the
vector's seeds (rand_chacha ChaCha20Rng::seed_from_u64) and compares the
stored bytes, or the whole re-written volume tree, byte for byte.

Usage: python3 conformance/check_vectors.py [-v] [VECTOR_DIR]
(-v prints every vector with the outcome and, for failures, the reason.)
Exit status: 0 when every vector passes, 1 when one fails, 2 when the
environment lacks what the check needs.
"""

import base64
import binascii
import collections
import glob
import hashlib
import hmac
import json
import os
import re
import stat
import struct
import sys
import time

try:
    import cryptography
    from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
except ImportError as e:
    print("python check: FAILED: the `cryptography` package is missing (%s); install it "
          "with: python3 -m pip install 'cryptography>=44'" % e, file=sys.stderr)
    sys.exit(2)
try:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
except ImportError:
    print("python check: FAILED: cryptography %s has no Argon2id (needs >= 44); install it "
          "with: python3 -m pip install 'cryptography>=44'" % cryptography.__version__,
          file=sys.stderr)
    sys.exit(2)


class Fail(Exception):
    """A reader failure: `cls` is the SPEC §13 class name."""

    def __init__(self, cls, why):
        super().__init__("%s (%s)" % (cls, why))
        self.cls, self.why = cls, why


class Mismatch(Exception):
    """The vector disagrees with what this checker computes."""


# ---------------------------------------------------------------- primitives (§1, §2)

def u64le(x):
    return struct.pack("<Q", x)


def u32le(x):
    return struct.pack("<I", x)


def lp(b):
    return u32le(len(b)) + b


def ceil16(x):
    return (x + 15) // 16 * 16


def hmac256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def aes_cbc(key, iv, data, encrypt):
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def b32enc(b):
    return base64.b32encode(b).decode("ascii").rstrip("=")


def b32dec_canonical(s, cls):
    """RFC 4648 base32, upper case, no '=', unused trailing bits zero (§1)."""
    if not re.fullmatch(r"[A-Z2-7]*", s) or len(s) % 8 in (1, 3, 6):
        raise Fail(cls, "not canonical base32")
    try:
        raw = base64.b32decode(s + "=" * (-len(s) % 8))
    except binascii.Error as e:
        raise Fail(cls, "bad base32: %s" % e)
    if b32enc(raw) != s:
        raise Fail(cls, "base32 with non-zero trailing bits")
    return raw


def b64field(v, n=None, atleast=None):
    if not isinstance(v, str):
        raise Fail("ConfCorrupt", "base64 field is not a string")
    try:
        raw = base64.b64decode(v, validate=True)
    except binascii.Error:
        raise Fail("ConfCorrupt", "bad base64")
    if (n is not None and len(raw) != n) or (atleast is not None and len(raw) < atleast):
        raise Fail("ConfCorrupt", "base64 field of %d bytes" % len(raw))
    return raw


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_chunk_size(cs):  # §6
    if not (16 <= cs <= 1048576 and cs % 16 == 0):
        raise Fail("InvalidChunkSize", "chunk size %d" % cs)


def check_plain_name(b, cls):  # §10 plaintext rules
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        raise Fail(cls, "name is not UTF-8")
    if not b or b in (b".", b"..") or b"/" in b or b"\0" in b or len(b) > 255:
        raise Fail(cls, "name breaks the plaintext rules")
    return s


# ------------------------------------------------- rand_chacha ChaCha20Rng::seed_from_u64

def seed_from_u64(state):
    """rand_core 0.6 SeedableRng::seed_from_u64: PCG32 fills the 32-byte seed."""
    out = b""
    mask = (1 << 64) - 1
    for _ in range(8):
        state = (state * 6364136223846793005 + 11634580027462260723) & mask
        xorshifted = (((state >> 18) ^ state) >> 27) & 0xFFFFFFFF
        rot = state >> 59
        out += u32le(((xorshifted >> rot) | (xorshifted << (32 - rot))) & 0xFFFFFFFF)
    return out


class Rng:
    """ChaCha20 (20 rounds), key = seed_from_u64(seed), stream 0, counter from 0.

    draw(n) is rand_core's BlockRng::fill_bytes: it consumes whole 32-bit
    words, so the bytes of a draw that is not a multiple of 4 are dropped.
    """

    def __init__(self, seed):
        # cryptography's 16-byte ChaCha20 nonce: 8-byte LE counter || 8-byte stream id
        self.enc = Cipher(algorithms.ChaCha20(seed_from_u64(seed), bytes(16)), None).encryptor()
        self.buf = b""
        self.pos = 0

    def draw(self, n):
        end = self.pos + n
        if end > len(self.buf):
            self.buf += self.enc.update(bytes(end - len(self.buf) + 4))
        out = self.buf[self.pos:end]
        self.pos = (end + 3) // 4 * 4
        return out


# ---------------------------------------------------------------- vector bytes

def load_bytes(spec, seed, vdir):
    if spec is None:
        return None
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "file" in spec:
        with open(os.path.join(vdir, spec["file"]), "rb") as f:
            b = f.read()
        if len(b) != spec["len"]:
            raise Mismatch("%s: %d bytes, vector says %d" % (spec["file"], len(b), spec["len"]))
    else:
        b = Rng(seed).draw(spec["chacha20_prefix"])
    if hashlib.sha256(b).hexdigest() != spec["sha256"]:
        raise Mismatch("sha256 of %s differs from the vector" % json.dumps(spec))
    return b


# ---------------------------------------------------------------- confs

LABELS = {  # §3
    "enc": (b"fusecry/1 content AES-256-CBC", 32),
    "mac": (b"fusecry/1 content HMAC-SHA256", 32),
    "trl": (b"fusecry/1 trailer HMAC-SHA256", 32),
    "name": (b"fusecry/1 names AES-SIV", 64),
    "conf": (b"fusecry/1 conf HMAC-SHA256", 32),
}
V1_FIELDS = {"format", "chunk_size", "encrypted_names", "content_cipher", "name_cipher",
             "features", "slots", "params_mac"}
PW_FIELDS = {"type", "kdf", "m_cost_kib", "t_cost", "p_cost", "salt", "wrapped_key"}
RSA_FIELDS = {"type", "key_fingerprint", "public_key", "wrapped_key"}  # and "signature" (§4.5)
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class Conf:
    def __init__(self, profile, cs, names, keys, vouched):
        self.profile, self.cs, self.names, self.k = profile, cs, names, keys
        self.vouched = vouched  # §4.5: whether the secret vouches for the conf


def rsa_slot_vouched(s, params_mac):  # §4.5
    if "signature" not in s:
        return False
    msg = (b"fusecry/1 rsa slot signature" + lp(params_mac) + lp(s["key_fingerprint"].encode())
           + lp(base64.b64decode(s["public_key"])) + lp(base64.b64decode(s["wrapped_key"])))
    pub = serialization.load_der_public_key(base64.b64decode(s["public_key"]))
    try:
        pub.verify(base64.b64decode(s["signature"]), msg, PSS, hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def load_key(pem):
    """(private key or None, True when only a public key was given)."""
    data = pem.encode("ascii")
    try:
        return serialization.load_pem_private_key(data, password=None), False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    try:
        serialization.load_pem_public_key(data)
        return None, True
    except (ValueError, UnsupportedAlgorithm):
        raise Fail("WrongKey", "unreadable key")


def open_conf(text, password, key_pem):
    if len(text.encode("utf-8") if isinstance(text, str) else text) > 1048576:  # §5: 1 MiB
        raise Fail("ConfCorrupt", "conf over 1 MiB")
    try:
        j = json.loads(text)
    except ValueError:
        raise Fail("ConfCorrupt", "not JSON")
    if not isinstance(j, dict):
        raise Fail("ConfCorrupt", "not a JSON object")
    if "version" in j and "format" not in j:
        return open_legacy(j, password, key_pem)
    return open_v1(j, password, key_pem)


def open_v1(j, password, key_pem):  # §5.2, steps in order
    fmt = j.get("format")
    if not isinstance(fmt, str):
        raise Fail("ConfCorrupt", "no format")
    if fmt != "fusecry/1":
        raise Fail("UnsupportedVersion", "format %r" % fmt)
    feats = j.get("features")
    if isinstance(feats, list) and feats:
        raise Fail("UnknownFeature", "features %r" % feats)
    if set(j) != V1_FIELDS:
        raise Fail("ConfCorrupt", "fields %s" % sorted(set(j) ^ V1_FIELDS))
    if not (is_int(j["chunk_size"]) and isinstance(j["encrypted_names"], bool)
            and isinstance(j["content_cipher"], str) and isinstance(j["name_cipher"], str)
            and isinstance(feats, list) and isinstance(j["slots"], list)
            and isinstance(j["params_mac"], str)):
        raise Fail("ConfCorrupt", "a field has the wrong JSON type")
    if j["content_cipher"] != "AES-256-CBC+HMAC-SHA256" or j["name_cipher"] != "AES-256-SIV":
        raise Fail("UnsupportedVersion", "ciphers %r" % ((j["content_cipher"], j["name_cipher"]),))
    check_chunk_size(j["chunk_size"])
    slots = j["slots"]
    if not slots or len(slots) > 32:  # §4: one to 32 slots
        raise Fail("ConfCorrupt", "%d slots" % len(slots))
    for s in slots:
        if not isinstance(s, dict) or s.get("type") not in ("password", "rsa"):
            raise Fail("ConfCorrupt", "slot type")
        if s["type"] == "password":
            if set(s) != PW_FIELDS:
                raise Fail("ConfCorrupt", "password slot fields")
            if s["kdf"] != "argon2id":
                raise Fail("UnsupportedVersion" if isinstance(s["kdf"], str) else "ConfCorrupt",
                           "kdf %r" % s["kdf"])
            m, t, p = s["m_cost_kib"], s["t_cost"], s["p_cost"]
            if not (is_int(m) and is_int(t) and is_int(p) and 8 <= m <= 1048576
                    and 1 <= t <= 100 and 1 <= p <= 64 and m >= 8 * p
                    and m * t <= 4194304):  # §4.1 ranges and cost cap
                raise Fail("ConfCorrupt", "Argon2id parameters out of range")
            b64field(s["salt"], 16)
            b64field(s["wrapped_key"], 48)
        else:
            if set(s) - {"signature"} != RSA_FIELDS:
                raise Fail("ConfCorrupt", "rsa slot fields")
            if not (isinstance(s["key_fingerprint"], str)
                    and re.fullmatch(r"sha256:[0-9a-f]{64}", s["key_fingerprint"])):
                raise Fail("ConfCorrupt", "key_fingerprint")
            der = b64field(s["public_key"])
            try:
                pub = serialization.load_der_public_key(der)
            except (ValueError, UnsupportedAlgorithm):
                raise Fail("ConfCorrupt", "public_key is not a DER SubjectPublicKeyInfo")
            if (not isinstance(pub, rsa.RSAPublicKey) or not 2048 <= pub.key_size <= 4096
                    or pub.public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo) != der):
                raise Fail("ConfCorrupt", "public_key is not an RSA key of 2048 to 4096 bits")
            if "sha256:" + hashlib.sha256(der).hexdigest() != s["key_fingerprint"]:
                raise Fail("ConfCorrupt", "key_fingerprint is not public_key's")
            b64field(s["wrapped_key"], (pub.key_size + 7) // 8)
            if "signature" in s:
                b64field(s["signature"])
    params_mac = b64field(j["params_mac"], 32)

    mk = None  # step 7, §4.3
    if key_pem is not None:
        priv, public_only = load_key(key_pem)
        if public_only:
            raise Fail("PublicKeyOnly", "a public key cannot open a conf")
        if not isinstance(priv, rsa.RSAPrivateKey) or priv.key_size < 2048:
            raise Fail("WrongKey", "not an RSA key of >= 2048 bits")
        spki = priv.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        fpr = "sha256:" + hashlib.sha256(spki).hexdigest()
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                            label=b"fusecry/1 rsa slot")
        for s in slots:
            if s["type"] != "rsa":
                continue
            try:
                k = priv.decrypt(base64.b64decode(s["wrapped_key"]), oaep)
            except ValueError:
                continue
            if len(k) == 32:
                if s["key_fingerprint"] != fpr:
                    raise Mismatch("slot opened but its key_fingerprint is not %s" % fpr)
                mk, opened = k, s
                break
    elif password is not None:
        for s in slots:
            if s["type"] != "password":
                continue
            salt = base64.b64decode(s["salt"])
            m, t, p = s["m_cost_kib"], s["t_cost"], s["p_cost"]
            kek = Argon2id(salt=salt, length=64, iterations=t, lanes=p,
                           memory_cost=m).derive(password.encode("utf-8"))
            ad = b"fusecry/1 password slot" + u32le(m) + u32le(t) + u32le(p) + salt
            try:
                mk = AESSIV(kek).decrypt(base64.b64decode(s["wrapped_key"]), [ad])
                opened = s
                break
            except InvalidTag:
                continue
    if mk is None:
        raise Fail("WrongKey", "no slot opens")
    keys = {n: HKDF(hashes.SHA256(), ln, None, label).derive(mk)
            for n, (label, ln) in LABELS.items()}
    p = (b"fusecry/1 conf params" + lp(b"fusecry/1") + u32le(j["chunk_size"])
         + bytes([j["encrypted_names"]]) + lp(b"AES-256-CBC+HMAC-SHA256") + lp(b"AES-256-SIV")
         + u32le(len(feats)) + b"".join(lp(f.encode()) for f in feats))
    if not hmac.compare_digest(hmac256(keys["conf"], p), params_mac):  # step 8
        raise Fail("ConfCorrupt", "params_mac does not verify")
    vouched = opened["type"] == "password" or rsa_slot_vouched(opened, params_mac)
    return Conf("fusecry/1", j["chunk_size"], j["encrypted_names"], keys, vouched)


def open_legacy(j, password, key_pem):  # §15.1, §15.2
    ver = j["version"]
    if not isinstance(ver, str):
        raise Fail("ConfCorrupt", "version is not a string")
    if not re.fullmatch(r"0\.11(\..*)?", ver):
        raise Fail("UnsupportedVersion", "version %r" % ver)
    if j.get("cipher", "AES_CBC") != "AES_CBC" or j.get("hashmod", "SHA256") != "SHA256":
        raise Fail("UnsupportedVersion", "cipher/hashmod")
    typ, cs = j.get("type"), j.get("chunk_size")
    if typ not in ("password", "rsakey") or not is_int(cs) or not isinstance(j.get("enc_path"), bool):
        raise Fail("ConfCorrupt", "type, chunk_size or enc_path")
    check_chunk_size(cs)
    sample = b64field(j.get("_FuseCryConf__sample"))
    if len(sample) < 64 or (len(sample) - 48) % 16:
        raise Fail("ConfCorrupt", "sample of %d bytes" % len(sample))
    if typ == "password":
        salt = b64field(j.get("_FuseCryConf__kdf_salt"))
        iters = j.get("kdf_iters")
        if not is_int(iters) or not 1 <= iters <= 10000000:  # §15.1 iteration cap
            raise Fail("ConfCorrupt", "kdf_iters")
        if password is None:
            raise Fail("WrongKey", "a password conf needs the password")
        try:
            pw = password.encode("latin-1")
        except UnicodeEncodeError:
            raise Fail("WrongKey", "password not encodable as latin-1")
        k = PBKDF2HMAC(hashes.SHA1(), 32, salt, iters).derive(pw)
    else:
        if not is_int(j.get("rsa_key_size")):
            raise Fail("ConfCorrupt", "rsa_key_size")
        wrapped = b64field(j.get("_FuseCryConf__enc_key"))
        if key_pem is None:
            raise Fail("WrongKey", "an rsakey conf needs the private key")
        priv, public_only = load_key(key_pem)
        if public_only:
            raise Fail("PublicKeyOnly", "a public key cannot open a conf")
        nums = priv.private_numbers()
        n = nums.public_numbers.n
        c = int.from_bytes(wrapped, "big")
        if c >= n:
            raise Fail("WrongKey", "wrapped key >= modulus")
        m = pow(c, nums.d, n)
        if m >= 1 << 256:
            raise Fail("WrongKey", "textbook RSA result longer than 32 bytes")
        k = m.to_bytes(32, "big")
    mkey = hashlib.sha256(k).digest()
    if not hmac.compare_digest(hmac256(mkey, sample[32:]), sample[:32]):
        raise Fail("WrongKey", "sample check fails")
    # §15.2: a legacy RSA conf never vouches (anyone with the public key writes one).
    return Conf("legacy-0.11", cs, j["enc_path"], {"K": k, "M": mkey}, typ == "password")


# ---------------------------------------------------------------- fusecry/1 contents (§7, §12)

def v1_size(size, cs):  # §7.4
    r = size % cs
    return 60 + size // cs * (cs + 48) + (48 + ceil16(r) if r else 0)


def v1_chunk(c, fid, i, chunk, plen):  # §7.2, §7.5 step 5
    t, iv, ct = chunk[:32], chunk[32:48], chunk[48:]
    if not hmac.compare_digest(hmac256(c.k["mac"], fid + u64le(i) + iv + ct), t):
        raise Fail("ChunkTampered", "chunk %d: tag" % i)
    p0 = aes_cbc(c.k["enc"], iv, ct, False)
    if any(p0[plen:]):
        raise Fail("ChunkTampered", "chunk %d: padding not zero" % i)
    return p0[:plen]


def v1_trailer(c, fid, st):
    sz = st[-40:-32]
    if not hmac.compare_digest(hmac256(c.k["trl"], fid + sz), st[-32:]):
        raise Fail("BadTrailer", "trailer tag")
    return struct.unpack("<Q", sz)[0]


def v1_read_file(c, st):  # §7.5, random access
    cs, L = c.cs, len(st)
    if L < 60:
        raise Fail("Truncated", "%d bytes" % L)
    if st[:4] != b"FCY1":
        raise Fail("BadHeader", "magic")
    fid = st[4:20]
    size = v1_trailer(c, fid, st)
    if L != v1_size(size, cs):
        raise Fail("Truncated", "length %d, size %d needs %d" % (L, size, v1_size(size, cs)))
    out = []
    for i in range((size + cs - 1) // cs):
        plen = min(cs, size - i * cs)
        off = 20 + i * (cs + 48)
        out.append(v1_chunk(c, fid, i, st[off:off + 48 + ceil16(plen)], plen))
    return b"".join(out)


def v1_read_stream(c, st):  # §12, in order: released frames, trailer, held frames
    cs, frame = c.cs, c.cs + 48
    if not st:
        raise Fail("Truncated", "empty input")
    if len(st) < 20 or st[:4] != b"FCY1":
        raise Fail("BadHeader", "header")
    fid, body = st[4:20], st[20:]
    out, i = [], 0
    while (i + 1) * frame + 41 <= len(body):
        out.append(v1_chunk(c, fid, i, body[i * frame:(i + 1) * frame], cs))
        i += 1
    if len(body) < 40:  # SPEC §12 does not say; the random-access class
        raise Fail("Truncated", "no room for a trailer")
    size = v1_trailer(c, fid, st)
    if len(st) != v1_size(size, cs):
        raise Fail("Truncated", "length does not match the size")
    for j in range(i, (size + cs - 1) // cs):
        plen = min(cs, size - j * cs)
        out.append(v1_chunk(c, fid, j, body[j * frame:j * frame + 48 + ceil16(plen)], plen))
    return b"".join(out)


def v1_write(c, pt, fid, rng):  # §7, drawing the IVs like the reference writer
    out = [b"FCY1", fid]
    for i in range(0, len(pt), c.cs):
        p = pt[i:i + c.cs]
        iv = rng.draw(16)
        ct = aes_cbc(c.k["enc"], iv, p + bytes(ceil16(len(p)) - len(p)), True)
        out += [hmac256(c.k["mac"], fid + u64le(i // c.cs) + iv + ct), iv, ct]
    sz = u64le(len(pt))
    return b"".join(out + [sz, hmac256(c.k["trl"], fid + sz)])


# ---------------------------------------------------------------- legacy contents (§15.3, §15.4)

def legacy_size(size, cs):
    if size == 0:
        return 0
    r = size % cs
    return 8 + size // cs * (cs + 48) + (48 + ceil16(r) if r else 0)


def legacy_chunk(c, i, chunk, plen):
    t, iv, ct = chunk[:32], chunk[32:48], chunk[48:]
    if not hmac.compare_digest(hmac256(c.k["M"], iv + ct), t):
        raise Fail("ChunkTampered", "chunk %d: tag" % i)
    return aes_cbc(c.k["K"], iv, ct, False)[:plen]  # padding is not checked (§15.3)


def legacy_read(c, st, stream):
    cs, ecs, L = c.cs, c.cs + 48, len(st)
    out, i = [], 0
    if stream:  # §15.4: a frame is released when at least 9 bytes follow it
        while (i + 1) * ecs + 9 <= L:
            out.append(legacy_chunk(c, i, st[i * ecs:(i + 1) * ecs], cs))
            i += 1
    if L == 0:
        return b""
    if L < 8:
        raise Fail("Truncated", "%d bytes" % L)
    size = struct.unpack("<Q", st[-8:])[0]
    if L == 8 and size == 0:
        return b""
    if L != legacy_size(size, cs):
        raise Fail("Truncated", "length %d, size %d needs %d" % (L, size, legacy_size(size, cs)))
    for j in range(i, (size + cs - 1) // cs):
        plen = min(cs, size - j * cs)
        out.append(legacy_chunk(c, j, st[j * ecs:j * ecs + 48 + ceil16(plen)], plen))
    return b"".join(out)


def legacy_write(c, pt, rng, stream):
    out = []
    for i in range(0, len(pt), c.cs):
        p = pt[i:i + c.cs]
        iv = rng.draw(16)
        ct = aes_cbc(c.k["K"], iv, p + bytes(ceil16(len(p)) - len(p)), True)
        out += [hmac256(c.k["M"], iv + ct), iv, ct]
    if not pt and not stream:
        return b""
    return b"".join(out) + u64le(len(pt))


# ---------------------------------------------------------------- names and symlinks (§10, §11, §15.4)

LONG = "fusecry.longname."


def v1_name_encode(c, diriv, name):
    enc = b32enc(AESSIV(c.k["name"]).encrypt(name.encode("utf-8"), [diriv]))
    if len(enc) <= 255:
        return enc, None
    return LONG + b32enc(hashlib.sha256(enc.encode("ascii")).digest()), enc


def v1_name_decode(c, diriv, disk, sidecar):
    enc = disk
    if disk.startswith(LONG):
        if sidecar is None:
            raise Fail("BadName", "long name without a sidecar")
        if b32enc(hashlib.sha256(sidecar.encode("utf-8")).digest()) != disk[len(LONG):]:
            raise Fail("BadName", "sidecar does not match the hashed name")
        if len(sidecar) <= 255:
            raise Fail("BadName", "the sidecar holds a short encoding")
        enc = sidecar
    raw = b32dec_canonical(enc, "BadName")
    try:
        b = AESSIV(c.k["name"]).decrypt(raw, [diriv])
    except (InvalidTag, ValueError):
        raise Fail("BadName", "AES-SIV verification fails")
    return check_plain_name(b, "BadName")


# §10.1: the markers sync tools add to the names of their conflict copies.
MARKER = (r"(?:\.sync-conflict-[0-9]{8}-[0-9]{6}-[A-Z0-9]{7}"
          r"| \((?:[^()/]{1,64}'s )?conflicted copy [0-9]{4}-[0-9]{2}-[0-9]{2}(?: [0-9]{6})?"
          r"(?: \([0-9]{1,4}\))?\)"
          r"|_conflict-[0-9]{8}-[0-9]{6}"
          r"| \(SFConflict [^()/]{1,64} [0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}\))")
MARKERS = re.compile("(?:%s)+" % MARKER)
BASE32 = re.compile("[A-Z2-7]+")


def split_conflict(disk):
    """(base on-disk name, markers) of a conflict copy's on-disk name, or None."""
    stem = LONG[:-1]
    if disk.startswith(stem):
        rest = disk[len(stem):]
        if rest.endswith(".name"):
            return None
        if (len(rest) > 53 and rest[-53] == "." and BASE32.fullmatch(rest[-52:])
                and MARKERS.fullmatch(rest[:-53])):
            return stem + rest[-53:], rest[:-53]
        if (len(rest) > 53 and rest[0] == "." and BASE32.fullmatch(rest[1:53])
                and MARKERS.fullmatch(rest[53:])):
            return LONG + rest[1:53], rest[53:]
        return None
    m = BASE32.match(disk)
    if m and m.end() < len(disk) and MARKERS.fullmatch(disk[m.end():]):
        return m.group(0), disk[m.end():]
    return None


def v1_entry_decode(c, diriv, disk, read_side):
    """(shown name, encoded name a symlink is bound to) of an on-disk entry;
    read_side(disk) is the sidecar of a long name, or None."""
    def plain(d):
        side = read_side(d) if d.startswith(LONG) else None
        return v1_name_decode(c, diriv, d, side), side or d
    try:
        return plain(disk)
    except Fail:
        split = split_conflict(disk)
        if split is None:
            raise
    name, enc = plain(split[0])
    i = name.rfind(".")
    shown = name[:i] + split[1] + name[i:] if i > 0 else name + split[1]
    return check_plain_name(shown.encode("utf-8"), "BadName"), enc


def legacy_name_encode(c, name, iv):
    b = name.encode("utf-8")
    return b32enc(iv + aes_cbc(c.k["K"], iv, b + bytes(ceil16(len(b)) - len(b)), True))


def legacy_name_decode(c, disk):
    try:
        raw = base64.b32decode(disk + "=" * (-len(disk) % 8))
    except binascii.Error:
        raise Fail("BadName", "bad base32")
    if b32enc(raw) != disk.rstrip("="):  # §15.4: unused trailing bits MUST be zero
        raise Fail("BadName", "base32 with non-zero trailing bits")
    if len(raw) < 32 or len(raw) % 16:
        raise Fail("BadName", "%d decoded bytes" % len(raw))
    b = aes_cbc(c.k["K"], raw[:16], raw[16:], False).rstrip(b"\0")
    return check_plain_name(b, "BadName")


# §11.2: a stored target longer than a symlink holds is kept out of line.
TARGET = "fusecry.target."
INLINE_MAX = 4095


def target_marker(stored):
    return TARGET + b32enc(hashlib.sha256(stored).digest())


def target_place(stored):
    """(what the symlink holds, (sidecar name, content) or None)."""
    if len(stored) <= INLINE_MAX:
        return stored, None
    m = target_marker(stored)
    return m.encode("ascii"), (m, stored)


def target_resolve(link, d):
    """The full stored target behind what the symlink in directory d holds."""
    if len(link) != 67 or not link.startswith(TARGET.encode("ascii")):
        return link
    m = link.decode("ascii", "replace")
    try:
        with open(os.path.join(d, os.fsencode(m)), "rb") as f:
            stored = f.read()
    except OSError:
        raise Fail("BadSymlink", "long target without its sidecar")
    if len(stored) <= INLINE_MAX or target_marker(stored) != m:
        raise Fail("BadSymlink", "sidecar does not match the marker")
    return stored


def symlink_ad(nonce, diriv, encoded):
    """§11: the target is bound to the parent's IV and the link's full encoded name."""
    return [b"fusecry/1 symlink", nonce, diriv, encoded.encode("ascii")]


def symlink_encode(c, target, nonce, diriv, encoded):
    return b32enc(nonce + AESSIV(c.k["name"]).encrypt(target, symlink_ad(nonce, diriv, encoded)))


def symlink_decode(c, stored, diriv, encoded):
    try:
        s = stored.decode("ascii")
    except UnicodeDecodeError:
        raise Fail("BadSymlink", "not ASCII")
    raw = b32dec_canonical(s, "BadSymlink")
    if len(raw) < 32:
        raise Fail("BadSymlink", "shorter than 32 bytes")
    try:
        return AESSIV(c.k["name"]).decrypt(raw[16:], symlink_ad(raw[:16], diriv, encoded))
    except (InvalidTag, ValueError):
        raise Fail("BadSymlink", "AES-SIV verification fails")


# ---------------------------------------------------------------- whole volumes (§9–§11)
#
# A volume vector's tree is walked as a reader does (SPEC §10 reserved names:
# `fusecry.conf` in the root, and with fusecry/1 encrypted names
# `fusecry.diriv` and `fusecry.longname.*.name` in every directory; legacy
# volumes have neither, §15.4, so there every other name must decode). Each
# entry the walk finds carries its on-disk path, and each failure its §13
# class, its on-disk path and, when the name itself decoded, its plaintext path.

CONF_NAME, DIRIV_NAME = "fusecry.conf", "fusecry.diriv"


class Walk:
    def __init__(self):
        self.nodes = {}   # plaintext path -> (node, on-disk path)
        self.damage = []  # (plaintext path or None, on-disk path, class, why)


def read_diriv(d):
    """A directory's IV (§10): exactly 16 bytes in `fusecry.diriv`, else BadName."""
    try:
        with open(os.path.join(d, os.fsencode(DIRIV_NAME)), "rb") as f:
            iv = f.read()
    except OSError as e:
        raise Fail("BadName", "%s unreadable: %s" % (DIRIV_NAME, e.strerror))
    if len(iv) != 16:
        raise Fail("BadName", "%s of %d bytes" % (DIRIV_NAME, len(iv)))
    return iv


def read_sidecar(full):
    """A long name's sidecar: missing, unreadable or not UTF-8 is BadName (§10)."""
    try:
        with open(full + b".name", "rb") as f:
            return f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # v1_name_decode reports the missing sidecar


def read_volume(c, root):
    legacy, v1names = c.profile == "legacy-0.11", c.names and c.profile == "fusecry/1"
    w = Walk()

    def join(a, b):
        return a + "/" + b if a else b

    def walk(d, prefix, dprefix, is_root):
        diriv = None
        if v1names:
            try:
                diriv = read_diriv(d)
            except Fail as e:  # nothing in it can be named: the directory is the damage
                w.nodes.pop(prefix, None)
                w.damage.append((prefix, dprefix, e.cls, e.why))
                return
        for braw in sorted(os.listdir(d)):
            full = os.path.join(d, braw)
            try:
                disk = braw.decode("utf-8")
            except UnicodeDecodeError:
                w.damage.append((None, join(dprefix, os.fsdecode(braw)), "BadName", "not UTF-8"))
                continue
            if is_root and disk == CONF_NAME:
                continue
            if v1names and (disk == DIRIV_NAME or disk.startswith("fusecry.tmp.")
                            or disk.startswith(TARGET)
                            or (disk.startswith(LONG) and disk.endswith(".name"))):
                continue
            dpath = join(dprefix, disk)
            encoded = disk
            try:
                if not c.names:
                    name = check_plain_name(braw, "BadName")
                elif legacy:
                    name = legacy_name_decode(c, disk)
                else:
                    name, encoded = v1_entry_decode(
                        c, diriv, disk, lambda n: read_sidecar(os.path.join(d, n.encode("utf-8"))))
            except Fail as e:
                w.damage.append((None, dpath, e.cls, e.why))
                continue
            path = join(prefix, name)
            if path in w.nodes:
                raise Mismatch("two on-disk entries read as %s" % path)
            mode = os.lstat(full).st_mode
            try:
                if stat.S_ISLNK(mode):
                    t = os.readlink(full)
                    if v1names:
                        t = symlink_decode(c, target_resolve(t, d), diriv, encoded)
                    w.nodes[path] = (("symlink", t), dpath)
                elif stat.S_ISDIR(mode):
                    w.nodes[path] = (("dir",), dpath)
                    walk(full, path, dpath, False)
                elif stat.S_ISREG(mode):
                    with open(full, "rb") as f:
                        st = f.read()
                    node = ("file", legacy_read(c, st, False) if legacy else v1_read_file(c, st))
                    w.nodes[path] = (node, dpath)
                else:
                    raise Mismatch("%s is neither a file, a directory nor a symlink" % dpath)
            except Fail as e:
                w.damage.append((path, dpath, e.cls, e.why))

    walk(os.fsencode(root), "", "", True)
    return w


def tree_bytes(root):
    """Every on-disk path under root with its kind and bytes (file content,
    symlink target), reserved files included."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            full = os.path.join(d, n)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = ("symlink", os.fsencode(os.readlink(full)))
            elif os.path.isdir(full):
                out[rel] = ("dir",)
            else:
                with open(full, "rb") as f:
                    out[rel] = ("file", f.read())
    return out


def write_volume(c, entries, contents, conf_bytes, root_iv, rng):
    """The writer's tree in memory (SPEC §10, §11, §7; §15 for legacy),
    drawing from rng in manifest order: directory: name (legacy name IV),
    then directory IV; file: name, file id (legacy too), one IV per chunk;
    symlink: name, then nonce. Returns (tree_bytes-like map, disk paths)."""
    legacy, v1names = c.profile == "legacy-0.11", c.names and c.profile == "fusecry/1"
    out = {CONF_NAME: ("file", conf_bytes)}
    ivs, disk_of, disks = {"": root_iv}, {"": ""}, []
    if v1names:
        out[DIRIV_NAME] = ("file", root_iv)
    for e, content in zip(entries, contents):
        parent, _, leaf = e["path"].rpartition("/")
        pdisk = disk_of[parent]
        if not c.names:
            disk, side = leaf, None
        elif legacy:
            if len(leaf.encode("utf-8")) > 128:  # §15.4: the writer refuses it
                raise Mismatch("%s: a legacy encrypted name over 128 bytes" % e["path"])
            disk, side = legacy_name_encode(c, leaf, rng.draw(16)), None
        else:
            disk, side = v1_name_encode(c, ivs[parent], leaf)
        rel = pdisk + "/" + disk if pdisk else disk
        if side is not None:
            out[rel + ".name"] = ("file", side.encode("ascii"))
        if e["kind"] == "dir":
            out[rel] = ("dir",)
            if v1names:
                ivs[e["path"]] = rng.draw(16)
                out[rel + "/" + DIRIV_NAME] = ("file", ivs[e["path"]])
        elif e["kind"] == "file":
            fid = rng.draw(16)
            out[rel] = ("file", legacy_write(c, content, rng, False) if legacy
                        else v1_write(c, content, fid, rng))
        else:
            t = e["target"].encode("utf-8")
            if v1names:  # §11: bound to the directory IV and the encoded name
                t = symlink_encode(c, t, rng.draw(16), ivs[parent], side or disk).encode("ascii")
                t, out_of_line = target_place(t)
                if out_of_line:
                    m, stored = out_of_line
                    out[pdisk + "/" + m if pdisk else m] = ("file", stored)
            out[rel] = ("symlink", t)
        disk_of[e["path"]] = rel
        disks.append(rel)
    return out, disks


def check_manifest(entries):
    """Paths unique, parents (directories) before children, each disk_path
    under its parent's disk_path, files with content, symlinks with a target."""
    disk_of = {"": ""}
    for e in entries:
        p, k = e["path"], e["kind"]
        parent, _, leaf = p.rpartition("/")
        if p in disk_of:
            raise Mismatch("manifest lists %s twice" % p)
        if parent not in disk_of:
            raise Mismatch("manifest lists %s before its directory" % p)
        pdisk = disk_of[parent]
        if pdisk is None:
            raise Mismatch("manifest: the parent of %s is not a directory" % p)
        dparent, _, dleaf = e["disk_path"].rpartition("/")
        if dparent != pdisk or not dleaf:
            raise Mismatch("manifest: disk_path of %s is not under its parent's" % p)
        if (k == "file") != ("content" in e) or (k == "symlink") != ("target" in e):
            raise Mismatch("manifest: %s (%s) has the wrong fields" % (p, k))
        disk_of[p] = e["disk_path"] if k == "dir" else None


def check_volume(v, c, vdir):
    """Returns (outcome, where); raises Mismatch when the tree disagrees with
    the manifest or, for reproducible vectors, with the writer."""
    root = os.path.join(vdir, v["tree"])
    with open(os.path.join(root, CONF_NAME), "rb") as f:
        conf_bytes = f.read()
    if conf_bytes != v["conf"].encode("utf-8"):  # §5.3: the volume's conf is ROOT/fusecry.conf
        raise Mismatch("the tree's %s is not the vector's conf" % CONF_NAME)
    entries, damaged = v["entries"], v.get("damaged")
    check_manifest(entries)
    by_path = {e["path"]: e for e in entries}
    contents = [load_bytes(e["content"], v["seed"], vdir) if e["kind"] == "file" else None
                for e in entries]
    want = {e["path"]: ({"dir": ("dir",), "file": ("file", b),
                         "symlink": ("symlink", e.get("target", "").encode("utf-8"))}[e["kind"]],
                        e["disk_path"])
            for e, b in zip(entries, contents)}

    w = read_volume(c, root)
    for path, (node, disk) in want.items():
        if path == damaged:
            continue
        if path not in w.nodes:
            raise Mismatch("%s (%s) is missing or does not read" % (path, disk))
        got, gdisk = w.nodes[path]
        if got != node:
            raise Mismatch("%s reads as %s, not as the manifest's %s"
                           % (path, repr(got)[:60], repr(node)[:60]))
        if gdisk != disk:
            raise Mismatch("%s is stored as %s, the manifest says %s" % (path, gdisk, disk))
    extra = sorted(set(w.nodes) - set(want))
    if extra:
        raise Mismatch("not in the manifest: %s" % extra)
    if len(w.damage) > 1:
        raise Mismatch("more than one damaged entry: %s" % [d[:3] for d in w.damage])
    if w.damage:
        path, disk, cls, why = w.damage[0]
        if damaged not in by_path:
            raise Mismatch("%s is damaged (%s: %s) but the vector names no damaged entry"
                           % (disk, cls, why))
        if damaged in w.nodes:
            raise Mismatch("%s is named damaged but reads, and %s is damaged" % (damaged, disk))
        wdisk = by_path[damaged]["disk_path"]
        # The damage is the damaged entry itself: where a name still decodes,
        # at its plaintext path and disk_path; where the name is the damage,
        # an undecodable name in the directory that should hold it.
        if path is not None and (path != damaged or disk != wdisk):
            raise Mismatch("the damage is at %s (%s), the vector names %s (%s)"
                           % (path, disk, damaged, wdisk))
        if path is None and disk.rpartition("/")[0] != wdisk.rpartition("/")[0]:
            raise Mismatch("undecodable name %s is not beside %s" % (disk, wdisk))
    elif damaged is not None:
        raise Mismatch("the damaged entry %s reads" % damaged)

    if v["reproducible"]:
        v1names = c.names and c.profile == "fusecry/1"
        root_iv = read_diriv(os.fsencode(root)) if v1names else None  # taken from the tree
        rng = Rng(v["seed"])  # the root IV (drawn in every profile), then the contents
        seed_iv = rng.draw(16)
        if v1names and seed_iv != root_iv:
            raise Mismatch("the root's directory IV does not follow from the seed")
        if [rng.draw(len(b)) if b is not None else None for b in contents] != contents:
            raise Mismatch("file contents do not follow from the seed")
        made, disks = write_volume(c, entries, contents, conf_bytes, root_iv,
                                   Rng(v["writer_seed"]))
        if [e["disk_path"] for e in entries] != disks:
            raise Mismatch("disk paths differ from the writer's")
        have = tree_bytes(root)
        if made != have:
            diff = sorted(k for k in set(made) | set(have) if made.get(k) != have.get(k))
            raise Mismatch("the re-written tree differs at %s" % diff[:5])
    if w.damage:
        path, disk, cls, why = w.damage[0]
        return cls, "%s (%s): %s" % (path or "?", disk, why)
    return "success", None


# ---------------------------------------------------------------- one vector

_confs = {}


def conf_for(v):
    key = (v["conf"], v.get("password"), v.get("key_pem"))
    if key not in _confs:
        try:
            _confs[key] = open_conf(*key)
        except Fail as e:
            _confs[key] = e
    r = _confs[key]
    if isinstance(r, Fail):
        raise r
    return r


def expect_equal(what, got, want):
    if got != want:
        g = got if isinstance(got, str) else got.hex()
        w = want if isinstance(want, str) else want.hex()
        raise Mismatch("%s differs: got %s..., vector %s... (%d vs %d)"
                       % (what, g[:64], w[:64], len(got), len(want)))


def check(v, kind, vdir):
    """Returns (outcome, reason): outcome is 'success' or the §13 class of the
    failure. Raises Mismatch when the vector disagrees with this checker."""
    seed = v["seed"]
    pt = load_bytes(v.get("plaintext"), seed, vdir)
    st = load_bytes(v.get("stored"), seed, vdir)
    try:
        c = conf_for(v)
        if c.profile != v["profile"]:
            raise Mismatch("conf is %s, vector says %s" % (c.profile, v["profile"]))
        if kind == "conf":
            if c.vouched != v.get("vouched"):
                raise Mismatch("the secret %s for the conf, the vector says vouched %r"
                               % ("vouches" if c.vouched else "does not vouch", v.get("vouched")))
            return "success", None
        if kind == "volume":
            got, where = check_volume(v, c, vdir)
            return got, None if got == "success" else where
        legacy = c.profile == "legacy-0.11"
        if kind in ("file", "tamper", "stream"):
            if legacy:
                got = legacy_read(c, st, kind == "stream")
            else:
                got = (v1_read_stream if kind == "stream" else v1_read_file)(c, st)
            if v["reproducible"]:
                rng = Rng(seed)
                expect_equal("seed plaintext", rng.draw(len(pt)), pt)
                if v.get("writer_seed") is not None:  # the writer's own stream
                    rng = Rng(v["writer_seed"])
                fid = rng.draw(16)  # drawn in both profiles; legacy files do not use it
                if legacy:
                    expect_equal("re-encryption", legacy_write(c, pt, rng, kind == "stream"), st)
                else:
                    expect_equal("re-encryption", v1_write(c, pt, fid, rng), st)
            if v.get("file_id") is not None:
                expect_equal("file_id", st[4:20], bytes.fromhex(v["file_id"]))
        elif kind == "symlink":
            if c.names and not legacy:
                diriv = bytes.fromhex(v["dir_iv"])
                encoded = v.get("sidecar") or v["disk_name"]
                got = symlink_decode(c, st, diriv, encoded)
                if v["reproducible"]:  # the nonce is the seed's first draw
                    expect_equal("re-encryption", symlink_encode(
                        c, pt, Rng(seed).draw(16), diriv, encoded), st.decode("ascii"))
            else:  # §11: plain names store the target as it is
                got = st
                if v["reproducible"]:
                    expect_equal("stored target", st, pt)
        elif kind == "name":
            if not c.names:
                raise Mismatch("name vector on a plain-name conf")
            if legacy:
                got = legacy_name_decode(c, v["disk_name"])
                if v["reproducible"]:  # the name IV is the first draw (no directory IV)
                    expect_equal("re-encryption", legacy_name_encode(
                        c, v["name"], Rng(seed).draw(16)), v["disk_name"])
            else:
                diriv = bytes.fromhex(v["dir_iv"])
                got = v1_entry_decode(c, diriv, v["disk_name"], lambda _: v.get("sidecar"))[0]
                if v["reproducible"]:
                    expect_equal("seed dir_iv", Rng(seed).draw(16), diriv)
                    disk, side = v1_name_encode(c, diriv, v["name"])
                    expect_equal("re-encrypted disk name", disk, v["disk_name"])
                    expect_equal("re-encrypted sidecar", side or "", v.get("sidecar") or "")
            pt = v["name"]
        else:
            raise Mismatch("unknown kind %s" % kind)
    except Fail as e:
        return e.cls, e.why
    if pt is not None and got != pt:
        if not (kind == "tamper" and legacy and genuine_chunks(got, pt, c.cs)):
            return "success", "read back other bytes than the vector's plaintext"
    return "success", None


def genuine_chunks(got, pt, cs):
    """Legacy tamper vectors that read without error (chunks swapped, duplicated,
    moved): their `plaintext` is the original file; what reads back must be
    made of that file's genuine chunks (§15.5 quirk 4)."""
    if len(got) != len(pt):
        return False
    orig = {pt[i:i + cs] for i in range(0, len(pt), cs)}
    return all(got[i:i + cs] in orig for i in range(0, len(got), cs))


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    vdir = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors")
    t0 = time.monotonic()
    files = sorted(f for f in glob.glob(os.path.join(vdir, "*.json"))
                   if not f.endswith("vector.schema.json"))
    per_profile, per_area, failed = collections.Counter(), collections.Counter(), []
    encoders = 0
    for path in files:
        name = os.path.basename(path)[:-5]
        kind, v = name.split("_")[0], {}
        try:
            with open(path, encoding="utf-8") as f:
                v = json.load(f)
            got, why = check(v, kind, vdir)
            if verbose:
                print("%-45s %-12s %s%s" % (name, v["profile"], got, ": " + why if why else ""))
            if got != v["expect"]:
                raise Mismatch("expected %s, got %s%s"
                               % (v["expect"], got, ": " + why if why else ""))
            if why and got == "success":
                raise Mismatch(why)
            encoders += bool(v["reproducible"])
        except Mismatch as e:
            failed.append((name, str(e)))
        except Exception as e:  # a crash is a failure of that vector, never a pass
            failed.append((name, "checker error: %r" % e))
        per_profile[v.get("profile", "?")] += 1
        per_area[kind, v.get("profile", "?")] += 1
    for name, why in failed:
        print("FAIL %s: %s" % (name, why))
    print("python check: %d vectors checked (fusecry/1: %d, legacy-0.11: %d), %d failed"
          % (len(files), per_profile["fusecry/1"], per_profile["legacy-0.11"], len(failed)))
    areas = sorted({a for a, _ in per_area})
    print("  per area (fusecry/1+legacy-0.11): " + ", ".join(
        "%s %d+%d" % (a, per_area[a, "fusecry/1"], per_area[a, "legacy-0.11"]) for a in areas))
    print("  %d of them also re-encrypted from the seed byte for byte; cryptography %s; %.1f s"
          % (encoders, cryptography.__version__, time.monotonic() - t0))
    if not files:
        print("python check: no vectors found in %s" % vdir)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
