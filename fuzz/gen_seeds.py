#!/usr/bin/env python3
"""Regenerate the seed corpora of the fuzz targets (fuzz/corpus/*).

The seeds are checked in; run this only after changing an input format:
    python3 fuzz/gen_seeds.py fuzz/corpus
"""
import os
import struct
import sys

# --- vu_msg -----------------------------------------------------------------

VERSION, NEED_REPLY = 0x1, 0x8
UVA = 0x7f0000000000
F_VERSION_1, F_INDIRECT, F_EVENT_IDX, F_NOE, F_PROTO = 32, 28, 29, 24, 30
P_MQ, P_REPLY_ACK, P_BACKEND_REQ, P_CONFIG, P_RESET_DEVICE, P_MEM_SLOTS, \
    P_SHARED, P_INFLIGHT = 0, 3, 5, 9, 13, 15, 18, 12
MEMFD_64K, MEMFD_1M, MEMFD_EMPTY, MEMFD_4K, EVENTFD, PIPE, DEVNULL, \
    MEMFD_SEALABLE = 0, 1, 2, 3, 4, 6, 7, 8
P_LOG_SHMFD, P_PAGEFAULT, P_STATUS, F_LOG_ALL = 1, 8, 16, 26


def msg(req, payload=b"", flags=VERSION, size=None, raw=False):
    if not raw:
        flags |= VERSION
    return struct.pack("<III", req, flags,
                       len(payload) if size is None else size) + payload


def send(data, fds=()):
    return bytes([0, len(fds)] + list(fds)) + struct.pack("<H", len(data)) \
        + data


def write(slot, off, data):
    out = b""
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        out += bytes([1, slot]) + struct.pack("<HB", off + i, len(chunk)) \
            + chunk
    return out


def kick(slot):
    return bytes([2, slot])


def drop():
    return bytes([3])


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


def region(gpa, size, uva, off):
    return struct.pack("<QQQQ", gpa, size, uva, off)


def negotiate(proto=None):
    if proto is None:
        proto = (1 << P_MQ) | (1 << P_REPLY_ACK) | (1 << P_CONFIG) | \
            (1 << P_RESET_DEVICE) | (1 << P_MEM_SLOTS) | (1 << P_SHARED)
    feats = (1 << F_VERSION_1) | (1 << F_INDIRECT) | (1 << F_EVENT_IDX) | \
        (1 << F_PROTO) | (1 << F_NOE)
    return send(msg(3)) + send(msg(1)) + send(msg(15)) + \
        send(msg(16, u64(proto))) + send(msg(2, u64(feats), NEED_REPLY))


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def ring_setup(q, num=8, kickslot=0, base=0, enable=True):
    d, a, u = 0x0 + q * 0x4000, 0x1000 + q * 0x4000, 0x2000 + q * 0x4000
    out = send(msg(8, state(q, num), VERSION | NEED_REPLY))
    out += send(msg(9, struct.pack("<IIQQQQ", q, 0, UVA + d, UVA + u,
                                    UVA + a, 0), VERSION | NEED_REPLY))
    out += send(msg(10, state(q, base)))
    out += send(msg(13, u64(q)), [EVENTFD])
    out += send(msg(14, u64(q)), [EVENTFD])
    out += send(msg(12, u64(q)), [EVENTFD])
    if enable:
        out += send(msg(18, state(q, 1), VERSION | NEED_REPLY))
    return out


def mem_table(n=1, kinds=None):
    regs = b"".join(region(i * 0x10000, 0x10000, UVA + i * 0x10000, 0)
                    for i in range(n))
    return send(msg(5, struct.pack("<II", n, 0) + regs, NEED_REPLY | VERSION),
                kinds or [MEMFD_64K] * n)


def guest_chain(q=0):
    base = q * 0x4000
    descs = desc(0x8000, 16, 0, 0) + desc(0x8100, 64, 1 | 2, 2) + \
        desc(0x8200, 64, 2, 0)
    avail = struct.pack("<HHHH", 0, 2, 0, 1)
    return write(0, base, descs) + write(0, base + 0x1000, avail)


def vu_msg_seeds():
    s = {}
    s["negotiate"] = negotiate()
    s["legacy_negotiate"] = send(msg(3)) + send(msg(1)) + \
        send(msg(2, u64(1 << F_VERSION_1)))
    s["running_queue"] = negotiate() + mem_table() + guest_chain(0) + \
        ring_setup(0) + kick(2) + send(msg(11, state(0, 0)))
    s["two_queues"] = negotiate() + mem_table(2, [MEMFD_64K, MEMFD_1M]) + \
        guest_chain(0) + guest_chain(1) + ring_setup(0) + \
        ring_setup(1, num=16) + kick(2) + kick(5) + \
        send(msg(34, b"", VERSION | NEED_REPLY)) + \
        send(msg(4)) + send(msg(1))
    indirect = desc(0x9000, 48, 4, 0)
    table = desc(0x8000, 8, 1, 1) + desc(0x8100, 32, 1 | 2, 2) + \
        desc(0x8200, 32, 2, 0)
    s["indirect"] = negotiate() + mem_table() + write(0, 0, indirect) + \
        write(0, 0x9000, table) + \
        write(0, 0x1000, struct.pack("<HHH", 0, 1, 0)) + ring_setup(0) + \
        kick(2)
    s["mem_slots"] = negotiate() + send(msg(36)) + \
        send(msg(37, u64(0) + region(0, 0x10000, UVA, 0), NEED_REPLY |
                 VERSION), [MEMFD_64K]) + \
        send(msg(37, u64(0) + region(0x100000, 0x1000, UVA + 0x100000, 0),
                 NEED_REPLY | VERSION), [MEMFD_4K]) + \
        send(msg(38, u64(0) + region(0, 0x10000, UVA, 0),
                 NEED_REPLY | VERSION)) + mem_table()
    s["config"] = negotiate() + \
        send(msg(24, struct.pack("<III", 0, 8, 0) + bytes(8))) + \
        send(msg(25, struct.pack("<III", 2, 4, 0) + b"abcd", NEED_REPLY |
                 VERSION)) + \
        send(msg(24, struct.pack("<III", 4, 8, 0) + bytes(8)))
    s["shared_object"] = negotiate() + send(msg(41, bytes(16))) + \
        send(msg(41, bytes([1]) + bytes(15)))
    s["backend_req"] = negotiate((1 << P_REPLY_ACK) | (1 << P_BACKEND_REQ)) \
        + send(msg(21, b"", NEED_REPLY | VERSION), [EVENTFD])
    # Inflight tracking: GET_INFLIGHT_FD, SET_INFLIGHT_FD with a memfd
    # (slot 1 after the memory table's slot 0), requests in flight, a
    # drop and the same region handed back; garbage written into the
    # region; and regions that lie about their size, offset or fd.
    pin = (1 << P_MQ) | (1 << P_REPLY_ACK) | (1 << P_INFLIGHT)
    ifl = struct.pack("<QQHHI", 0, 0, 2, 8, 0)
    iset = struct.pack("<QQHHI", 384, 0, 2, 8, 0)
    s["inflight"] = negotiate(pin) + mem_table() + send(msg(31, ifl)) + \
        send(msg(32, iset, NEED_REPLY | VERSION), [MEMFD_4K]) + \
        guest_chain(0) + ring_setup(0) + kick(2) + drop() + \
        negotiate(pin) + mem_table() + \
        send(msg(32, iset, NEED_REPLY | VERSION), [MEMFD_4K]) + \
        ring_setup(0) + kick(2)
    s["inflight_garbage"] = negotiate(pin) + mem_table() + \
        send(msg(32, iset, NEED_REPLY | VERSION), [MEMFD_4K]) + \
        write(1, 0, struct.pack("<QHHHH", 0, 1, 8, 7, 3) +
              bytes([1, 0, 0, 0, 0, 0, 9, 0]) + u64(5) +
              bytes([1, 0, 0, 0, 0, 0, 0, 0]) + u64(2)) + \
        guest_chain(0) + ring_setup(0) + kick(2)
    s["inflight_lies"] = negotiate(pin) + mem_table() + \
        send(msg(32, struct.pack("<QQHHI", 320, 0, 2, 8, 0),
                 NEED_REPLY | VERSION), [MEMFD_4K]) + \
        send(msg(32, struct.pack("<QQHHI", 384, 100, 2, 8, 0),
                 NEED_REPLY | VERSION), [MEMFD_4K]) + \
        send(msg(32, iset, NEED_REPLY | VERSION)) + \
        send(msg(32, iset, NEED_REPLY | VERSION), [MEMFD_EMPTY]) + \
        send(msg(32, iset, NEED_REPLY | VERSION), [EVENTFD]) + \
        send(msg(32, iset[:12], NEED_REPLY | VERSION), [MEMFD_4K]) + \
        send(msg(31, struct.pack("<QQHHI", 0, 0, 9, 8, 0))) + \
        send(msg(31, struct.pack("<QQHHI", 0, 0, 1, 0xffff, 0)))
    s["unsupported"] = b"".join(
        send(msg(r, u64(0), NEED_REPLY | VERSION))
        for r in (0, 6, 7, 19, 20, 22, 23, 26, 27, 28, 29, 30, 31, 32, 33,
                  35, 39, 40, 42, 43, 44, 45, 200))
    # Dirty logging (migration): a log, LOG_ALL while running, the used
    # ring logged, a log fd, a re-mapped log, and bad logs; the status.
    proto = (1 << P_MQ) | (1 << P_REPLY_ACK) | (1 << P_MEM_SLOTS) | \
        (1 << P_LOG_SHMFD) | (1 << P_STATUS) | (1 << P_PAGEFAULT)
    feats = (1 << F_VERSION_1) | (1 << F_EVENT_IDX) | (1 << F_PROTO)
    log = lambda size, off: struct.pack("<QQ", size, off)
    s["dirty_log"] = negotiate(proto) + mem_table() + guest_chain(0) + \
        send(msg(6, log(0x1000, 0), NEED_REPLY | VERSION),
             [MEMFD_SEALABLE]) + ring_setup(0) + \
        send(msg(2, u64(feats | (1 << F_LOG_ALL)), NEED_REPLY | VERSION)) + \
        send(msg(9, struct.pack("<IIQQQQ", 0, 1, UVA, UVA + 0x2000,
                                UVA + 0x1000, 0x2000),
                 NEED_REPLY | VERSION)) + kick(2) + \
        send(msg(7, b"", NEED_REPLY | VERSION), [EVENTFD]) + \
        send(msg(6, log(0x800, 0x800), NEED_REPLY | VERSION),
             [MEMFD_SEALABLE]) + kick(2) + \
        send(msg(6, log(1, 0), NEED_REPLY | VERSION), [MEMFD_SEALABLE]) + \
        send(msg(6, log(0x1000, 0x10000), NEED_REPLY | VERSION),
             [MEMFD_SEALABLE]) + \
        send(msg(6, log(0x1000, 0), NEED_REPLY | VERSION)) + \
        send(msg(6, log(0x1000, 0), NEED_REPLY | VERSION), [MEMFD_64K]) + \
        send(msg(39, u64(0xf), NEED_REPLY | VERSION)) + send(msg(40)) + \
        send(msg(39, u64(0), NEED_REPLY | VERSION)) + \
        send(msg(2, u64(feats), NEED_REPLY | VERSION))
    s["log_before_memory"] = negotiate(proto) + \
        send(msg(6, log(0x10, 0), NEED_REPLY | VERSION), [MEMFD_SEALABLE]) \
        + mem_table() + \
        send(msg(2, u64(feats | (1 << F_LOG_ALL)), NEED_REPLY | VERSION)) + \
        guest_chain(0) + ring_setup(0) + kick(2)
    # Postcopy as QEMU 7.2 drives a destination: ADVISE (a userfaultfd
    # back), LISTEN, a region answered with our address, the table ack
    # under ADD_MEM_REG with no fd, END; and the messages out of order.
    s["postcopy"] = negotiate(proto) + send(msg(29, b"", NEED_REPLY |
                                                VERSION)) + \
        send(msg(37, u64(0))) + send(msg(28)) + \
        send(msg(29, b"", NEED_REPLY | VERSION)) + \
        send(msg(37, u64(0) + region(0, 0x10000, UVA, 0)), [MEMFD_64K]) + \
        send(msg(37, u64(0))) + send(msg(37, u64(1))) + \
        send(msg(30, b"", NEED_REPLY | VERSION)) + send(msg(28)) + drop()
    s["bad_sizes"] = negotiate() + send(msg(8, b"\0" * 4)) + \
        send(msg(9, b"\0" * 8)) + send(msg(5, b"\0" * 4), [MEMFD_64K]) + \
        send(msg(12, u64(0))) + send(msg(12, u64(0x100)), [EVENTFD])
    s["partial_and_drop"] = negotiate() + send(msg(1)[:7]) + drop() + \
        send(msg(1)) + send(msg(1, flags=0x2, raw=True))
    s["reset_owner_then_more"] = negotiate() + mem_table() + \
        ring_setup(0) + send(msg(4)) + ring_setup(0) + send(msg(3))
    s["huge_size"] = negotiate() + send(msg(5, b"", VERSION, 0xffffffff))
    # Call, kick and err fd swaps on a running queue (QEMU's MSI-X mask
    # and unmask), fds that are not eventfds, no kick fd, then a kick fd.
    swaps = b"".join(send(msg(13, u64(0), NEED_REPLY | VERSION), [EVENTFD])
                     for _ in range(3))
    s["fd_swaps_running"] = negotiate() + mem_table() + guest_chain(0) + \
        ring_setup(0) + kick(2) + swaps + \
        send(msg(12, u64(0), NEED_REPLY | VERSION), [EVENTFD]) + kick(3) + \
        send(msg(14, u64(0)), [EVENTFD]) + \
        send(msg(13, u64(0), NEED_REPLY | VERSION), [PIPE]) + \
        send(msg(12, u64(0), NEED_REPLY | VERSION), [MEMFD_4K]) + \
        send(msg(12, u64(0x100), NEED_REPLY | VERSION)) + \
        send(msg(12, u64(0), NEED_REPLY | VERSION), [EVENTFD]) + kick(5)
    # QEMU's stop and cont: disable, GET_VRING_BASE, then features,
    # memory table and the whole ring again.
    feats = (1 << F_VERSION_1) | (1 << F_INDIRECT) | (1 << F_EVENT_IDX) | \
        (1 << F_PROTO) | (1 << F_NOE)
    s["stop_cont"] = negotiate() + mem_table() + guest_chain(0) + \
        ring_setup(0) + kick(2) + \
        send(msg(18, state(0, 0), NEED_REPLY | VERSION)) + \
        send(msg(11, state(0, 0))) + \
        send(msg(2, u64(feats), NEED_REPLY | VERSION)) + mem_table() + \
        guest_chain(0) + ring_setup(0, base=1) + kick(5)
    # REM_MEM_REG + ADD_MEM_REG of the region holding a running ring, then
    # of the one holding buffers, with chains posted in between.
    r0 = region(0, 0x10000, UVA, 0)
    r1 = region(0x10000, 0x10000, UVA + 0x10000, 0)
    buf_chain = desc(0x10100, 64, 2, 0)
    s["rem_add_running"] = negotiate() + \
        mem_table(2, [MEMFD_64K, MEMFD_64K]) + guest_chain(0) + \
        ring_setup(0) + kick(2) + \
        send(msg(38, u64(0) + r0, NEED_REPLY | VERSION)) + kick(2) + \
        send(msg(37, u64(0) + r0, NEED_REPLY | VERSION), [MEMFD_64K]) + \
        write(2, 0, buf_chain) + \
        write(2, 0x1000, struct.pack("<HHHH", 0, 2, 0, 0)) + kick(2) + \
        send(msg(38, u64(0) + r1, NEED_REPLY | VERSION)) + \
        write(2, 0x1000, struct.pack("<HHHH", 0, 3, 0, 0)) + kick(2) + \
        send(msg(37, u64(0) + r1, NEED_REPLY | VERSION), [MEMFD_64K]) + \
        kick(2) + send(msg(11, state(0, 0)))
    return s


# --- vring ------------------------------------------------------------------

def vring_input(num_log2, flags, last_avail, d, a, u, mem):
    hdr = bytes([num_log2, flags]) + struct.pack("<HHHH", last_avail, d // 16,
                                                 a // 2, u // 4)
    return hdr + mem


def vring_mem(descs, avail_idx, ring, d=0x0, a=0x1000, size=0x9000):
    mem = bytearray(size)
    mem[d:d + len(descs)] = descs
    av = struct.pack("<HH", 0, avail_idx) + b"".join(struct.pack("<H", x)
                                                     for x in ring)
    mem[a:a + len(av)] = av
    return bytes(mem)


def vring_seeds():
    s = {}
    s["single"] = vring_input(3, 0, 0, 0, 0x1000, 0x2000,
                              vring_mem(desc(0x8000, 100, 0, 0), 1, [0]))
    chain = desc(0x8000, 16, 1, 1) + desc(0x8100, 64, 3, 2) + \
        desc(0x8200, 64, 2, 0)
    s["chain_event_idx"] = vring_input(4, 1, 0, 0, 0x1000, 0x2000,
                                       vring_mem(chain, 1, [0]))
    s["several"] = vring_input(3, 6, 0, 0, 0x1000, 0x2000,
                               vring_mem(chain + desc(0x8400, 8, 2, 0), 2,
                                         [0, 3]))
    ind = desc(0x6000, 48, 4, 0)
    mem = bytearray(vring_mem(ind, 1, [0]))
    mem[0x6000:0x6030] = chain
    s["indirect"] = vring_input(3, 0, 0, 0, 0x1000, 0x2000, bytes(mem))
    # A buffer straddling the A/B boundary at 64 KiB.
    big = bytearray(0x10100)
    big[0:16] = desc(0xff00, 0x200, 2, 0)
    big[0x1000:0x1006] = struct.pack("<HHH", 0, 1, 0)
    s["straddle"] = vring_input(3, 0, 0, 0, 0x1000, 0x2000, bytes(big))
    s["loop"] = vring_input(2, 0, 0, 0, 0x1000, 0x2000,
                            vring_mem(desc(0x8000, 4, 1, 1) +
                                      desc(0x8000, 4, 1, 0), 1, [0]))
    s["wrap"] = vring_input(3, 2, 0xfffe, 0, 0x1000, 0x2000,
                            vring_mem(desc(0x8000, 4, 2, 0), 0x1, [0] * 8))
    return s


# --- conf -------------------------------------------------------------------

def conf_seeds():
    s = {}
    s["example"] = b'''# vhostd example
module-dir "/usr/lib/vhostd/modules"
log-level info
device "rng0" {
    module rng
    socket "/run/vhostd/rng0.sock"
    socket-mode 0660
    queue-mask 0x1 0x0
    max-bytes 4096
    period 1000
}
'''
    s["two_devices"] = b'''device rng0 {
    module rng
    socket /tmp/a.sock
}
device "rng1" {
    module "rng"
    socket "/tmp/b \\"q\\" \\\\.sock"
    source /dev/urandom
}
'''
    s["errors"] = b'''bogus-key 1
device "a/b" {
    module ../evil
    socket-mode 99999
    queue-mask zz
}
device rng0 { module rng
'''
    s["include"] = b'include "nothere.conf"\ninclude ""\nlog-level debug\n'
    s["owner"] = b'''device rng0 {
    module rng
    socket /tmp/r.sock
    socket-owner root
    socket-group 0
    socket-mode 0600
}
'''
    return s


# --- vsock ------------------------------------------------------------------

V_REQUEST, V_RESPONSE, V_RST, V_SHUTDOWN, V_RW, V_CUPD, V_CREQ = range(1, 8)


def vtx(a, op, typ, sport, dport, payload=b"", flags=0, buf_alloc=16384,
        fwd=0):
    """A guest tx packet (see fuzz_vsock.c); buf_alloc is stored / 4."""
    return bytes([0, a, op, typ, sport, dport, flags]) + \
        struct.pack("<HHH", buf_alloc // 4, fwd, len(payload)) + payload


def vrx(a=7, size=64):
    return bytes([1, a, size])


def vsock_seeds():
    loop, accept = bytes([2]), bytes([8])
    stream = vrx() + vtx(2, V_REQUEST, 1, 0, 0) + accept + \
        bytes([5, 0]) + struct.pack("<H", 5) + b"hello" + loop + vrx() + \
        vtx(0, V_RW, 1, 0, 0, b"guest data") + bytes([6, 0]) + \
        vtx(4, V_CREQ, 1, 0, 0) + vtx(6, V_SHUTDOWN, 1, 0, 0, flags=1) + \
        loop + vrx() + vtx(0, V_SHUTDOWN, 1, 0, 0, flags=3) + \
        bytes([7, 0, 0]) + loop + vrx()
    seq = vrx() + vtx(2, V_REQUEST, 2, 1, 1) + accept + \
        vtx(0, V_RW, 2, 1, 1, b"msg1", flags=3) + \
        vtx(0, V_RW, 2, 1, 1, b"part", flags=0) + \
        vtx(0, V_RW, 2, 1, 1, b"end", flags=1) + bytes([6, 0]) + \
        bytes([5, 0]) + struct.pack("<H", 4) + b"back" + loop + vrx() + \
        vtx(0, V_RST, 2, 1, 1)
    host = bytes([4, 0]) + loop + vrx() + vtx(0, V_RESPONSE, 1, 0, 3) + \
        loop + bytes([6, 0]) + bytes([5, 0]) + struct.pack("<H", 3) + \
        b"abc" + loop + vrx() + vtx(0, V_RW, 1, 0, 3, b"xyz") + \
        bytes([6, 0]) + bytes([7, 0, 1]) + loop + vrx() + \
        vtx(0, V_RST, 1, 0, 3)
    host_line = bytes([4, 9]) + b"connect 7" + loop + bytes([4, 14]) + \
        b"CONNECT 5001\r\n" + loop + bytes([4, 5]) + b"junk\n" + loop + \
        vrx() + bytes([3, 0]) + bytes([3, 2]) + vrx()
    credit = vrx(0, 4) + vtx(2, V_REQUEST, 1, 0, 0, buf_alloc=64) + \
        accept + bytes([5, 0]) + struct.pack("<H", 200) + bytes(200) + \
        loop + vrx(7, 255) + vrx(7, 20) + \
        vtx(0, V_CUPD, 1, 0, 0, buf_alloc=4096, fwd=64) + vrx() + \
        vtx(0, V_RW, 1, 0, 0, bytes(3000)) + vtx(0, V_RW, 1, 0, 0,
                                               bytes(3000))
    bad = vtx(8, V_REQUEST, 1, 0, 0) + vtx(2, 0, 1, 0, 0) + \
        vtx(2, 9, 1, 0, 0) + vtx(2, V_RW, 3, 0, 0) + \
        vtx(32, V_RW, 1, 0, 0, b"short") + vtx(2, V_RW, 1, 0, 2) + \
        vtx(2, V_REQUEST, 1, 2, 7) + vrx(64) + vrx(0, 255) + \
        bytes([9, 0]) + bytes([10, 0, 8]) + vrx()
    sib = vrx(1) + vtx(16, V_REQUEST, 1, 0, 0) + loop + vrx(0) + \
        vtx(17, V_RESPONSE, 1, 0, 0) + \
        vtx(16, V_RW, 1, 0, 0, b"to the sibling") + vrx(1) + \
        vtx(17, V_RST, 1, 0, 0) + vrx(0)
    # Pause (9, mode 1: stop), host traffic and a host connect while
    # paused, resume (mode 2), pause and resume (mode 0), reset (mode 3).
    pause = vrx() + vtx(2, V_REQUEST, 1, 0, 0) + accept + \
        bytes([9, 2]) + bytes([5, 0]) + struct.pack("<H", 6) + b"paused" + \
        bytes([4, 0]) + loop + bytes([3, 0]) + vtx(0, V_RW, 1, 0, 0, b"x") + \
        vrx() + bytes([9, 4]) + loop + vrx() + bytes([6, 0]) + \
        vtx(0, V_RW, 1, 0, 0, b"after") + bytes([9, 0]) + bytes([6, 0]) + \
        vtx(0, V_SHUTDOWN, 1, 0, 0, flags=3) + bytes([9, 6]) + vrx() + \
        vtx(0, V_RW, 1, 0, 0, b"gone")
    sib_pause = vrx(1) + vtx(16, V_REQUEST, 1, 0, 0) + bytes([9, 3]) + \
        vtx(16, V_RW, 1, 0, 0, b"to a paused sibling") + \
        vtx(0, V_REQUEST, 1, 1, 0) + accept + bytes([9, 5]) + vrx(1) + \
        vtx(16, V_RW, 1, 0, 0, b"again") + bytes([9, 7]) + vrx(0) + \
        vtx(16, V_RW, 1, 0, 0, b"to a reset sibling") + vrx(0)
    # The sibling reads nothing: its inbox (16 KiB in the fuzz build)
    # fills, packets park, the park list (32 KiB) overflows; then it
    # reads, pauses and is reset.
    big = bytes(4000)
    sib_full = vrx(0) + vtx(16, V_REQUEST, 1, 0, 0) + \
        b"".join(vtx(16, V_RW, 1, 0, 0, big) for _ in range(6)) + \
        vtx(16, V_REQUEST, 1, 1, 1) + vtx(2, V_REQUEST, 1, 2, 0) + \
        accept + vrx(1, 255) + vrx(1) + vrx(1) + \
        b"".join(vtx(16, V_RW, 1, 0, 0, big) for _ in range(12)) + \
        vrx(0) + bytes([9, 3]) + vrx(1) + bytes([9, 7]) + vrx(0) + \
        vtx(16, V_RW, 1, 1, 1, b"late")
    # State op (0xf0): a, n(2), then x for a save/reset/load (a&2), or
    # n raw bytes to load (a=0).  Host bytes the guest has no credit for
    # wait in the host socket at the save: they are drained, carried and
    # sent after the load; stream, then seqpacket (6 messages of 100
    # bytes against 256 bytes of credit).
    save_load = bytes([0xf0, 2]) + struct.pack("<H", 0) + bytes([0])
    hunread = vrx() + vtx(2, V_REQUEST, 1, 0, 0, buf_alloc=64) + \
        accept + bytes([5, 0]) + struct.pack("<H", 3000) + \
        bytes(range(256)) * 11 + bytes(184) + loop + save_load + \
        accept + vrx() + vtx(0, V_CUPD, 1, 0, 0, buf_alloc=4096, fwd=64) + \
        loop + vrx() + loop + vrx() + bytes([6, 1])
    hunread_seq = vrx() + vtx(2, V_REQUEST, 2, 1, 1, buf_alloc=256) + \
        accept + b"".join(bytes([5, 0]) + struct.pack("<H", 100) +
                          bytes([i]) * 100 for i in range(6)) + loop + \
        save_load + accept + vrx() + \
        vtx(0, V_CUPD, 2, 1, 1, buf_alloc=4096, fwd=256) + loop + vrx() + \
        loop + vrx()

    def vstate(typ, lport, hend, data, msgs=()):
        """A version 2 vsock state: one connection the guest opened."""
        u = [2, 3, 1, 0, 0, typ, lport, 5000, 0, 0, 0, 0, 0, 0, 4096,
             0, 0, 0, 0, 0, 0, 0, 0, 0, hend, len(data), len(msgs)]
        u += list(msgs)
        p = b"".join(struct.pack("<Q", x) for x in u) + data
        return bytes([0xf0, 0]) + struct.pack("<H", len(p)) + p
    raw_v2 = vstate(1, 1234, 1, b"hello") + bytes([8]) + vrx() + loop + \
        vrx() + vstate(2, 1235, 2, b"abcdefg", (3, 4 | 0x80000000)) + \
        bytes([8]) + vrx() + loop + vrx() + vrx()
    return {
        "state-host-unread": bytes([0x1c, 0]) + hunread,
        "state-host-unread-seq": bytes([0x1c, 0]) + hunread_seq,
        "state-raw-v2": bytes([0x1c, 0]) + raw_v2,
        "sibling-full": bytes([0x1e, 0]) + sib_full,
        "pause": bytes([0x1c, 0]) + pause,
        "sibling-pause": bytes([0x1e, 0]) + sib_pause,
        "stream": bytes([0x1c, 0]) + stream,
        "seqpacket": bytes([0x1c, 1]) + seq,
        "host-connect": bytes([0x3c, 0]) + host,
        "host-lines": bytes([0x1c, 3]) + host_line,
        "credit": bytes([0x1c, 0]) + credit,
        "bad-packets": bytes([0x1d, 0]) + bad,
        "siblings": bytes([0x1e, 0]) + sib,
    }


# --- console ----------------------------------------------------------------

C_READY, C_ADD, C_REMOVE, C_PREADY, C_CONSOLE, C_RESIZE, C_OPEN, C_NAME = \
    range(8)


def cctl(port, ev, val, length=8, a=0):
    return bytes([0, length, port, ev]) + struct.pack("<H", val) + bytes([a])


def cpost(n=3, length=140):
    return bytes([1, n, length])


def ctx(port, data, a=0):
    return bytes([2, port, a]) + struct.pack("<H", len(data)) + data


def console_seeds():
    loop = bytes([4])
    hand = cpost() + cpost() + cctl(0, C_READY, 1) + cpost() + cpost() + \
        b"".join(cctl(p, C_PREADY, 1) for p in range(4)) + cpost() + \
        cctl(0, C_OPEN, 1) + cctl(1, C_OPEN, 1)
    data = hand + bytes([6, 0]) + bytes([6, 1]) + loop + cpost() + \
        ctx(0, b"login: ") + ctx(1, b"x" * 300, 1) + ctx(2, b"log line\n") + \
        bytes([8, 0]) + bytes([7, 0]) + struct.pack("<H", 3) + b"ls\n" + \
        bytes([3, 0, 2, 4]) + loop + bytes([9, 0, 0]) + loop + cpost() + \
        ctx(0, b"y" * 5000) + bytes([10, 1]) + hand
    backlog = hand + ctx(3, b"z" * 5000) + ctx(3, b"w" * 5000, 2) + \
        bytes([6, 2]) + loop + bytes([8, 0]) + loop + bytes([6, 2]) + loop + \
        bytes([8, 1]) + bytes([11, 8, 17, 0x41]) + bytes([11, 0, 12, 0])
    bad = cctl(0, C_READY, 1, length=4) + cctl(5, C_PREADY, 1) + \
        cctl(4, C_OPEN, 1) + cctl(0, C_ADD, 1) + cctl(0, 9, 1) + \
        cctl(0, C_READY, 0) + cpost(2, 4) + cctl(0, C_READY, 1, 12, 1) + \
        cpost(4, 8) + cctl(1, C_PREADY, 0) + cctl(1, C_OPEN, 7) + \
        bytes([3, 1, 1, 0]) + ctx(1, b"", 2) + bytes([11, 3, 16, 1])
    pty = hand + bytes([5, 0]) + bytes([5, 1]) + ctx(0, b"to the pty") + \
        loop + bytes([10, 0])
    single = ctx(0, b"hello") + bytes([3, 0, 1, 8]) + bytes([6, 0]) + loop + \
        bytes([7, 0]) + struct.pack("<H", 2) + b"hi" + loop + \
        bytes([11, 8, 16, 0x42])
    return {
        "handshake-data": bytes([0x38, 0]) + data,
        "backlog-replace": bytes([0x3a, 0]) + backlog,
        "bad-control": bytes([0x38, 1]) + bad,
        "pty": bytes([0x3d, 2]) + pty,
        "single-port": bytes([0x28, 0]) + single,
    }


# --- blk --------------------------------------------------------------------

def bpost(a=0, t=0, sector=0, extra=b"", lay=0x10, cuts=(), wlens=(513,),
          mode=0, raw_type=None):
    """A post op (see fuzz_blk.c): type table index t, sector mode 0
    (one byte), 1 (near the end) or 2 (raw u64)."""
    out = bytes([0, a, t, mode, lay])
    if t == 7:
        out += struct.pack("<I", raw_type or 0)
    if mode == 0:
        out += bytes([sector & 0xff])
    elif mode == 1:
        out += bytes([sector])
    else:
        out += struct.pack("<Q", sector)
    out += struct.pack("<H", len(extra)) + extra
    out += bytes(cuts)
    for w in wlens:
        out += struct.pack("<H", w)
    return out


def bkick(a=0):
    return bytes([1, a])


def bloop():
    return bytes([2])


def brestart(a=0):
    return bytes([3, a])


def bquiesce(a=0):
    return bytes([5, a])


def brange(sector, num, flags=0):
    return struct.pack("<QII", sector, num, flags)


def blk_seeds():
    rw = (bpost(t=1, sector=4, extra=b"\x5a" * 1024, lay=0x01, wlens=())
          + bpost(t=1, sector=4, extra=b"\x5a" * 1024, lay=0x11, wlens=(1,))
          + bkick() + bloop() + bpost(t=0, sector=4, lay=0x20,
                                      wlens=(512, 513)) + bkick() + bloop()
          + brestart())
    layouts = (bpost(t=1, sector=8, extra=b"\x33" * 512, lay=0x13,
                     cuts=(5, 20, 3), wlens=(1,))
               + bpost(t=0, sector=8, lay=0x31, wlens=(100, 412, 1))
               + bkick() + brestart() + bloop())
    errors = (bpost(t=0, sector=2, mode=1, lay=0x10, wlens=(1025,))
              + bpost(t=7, raw_type=99, lay=0x10, wlens=(1,))
              + bpost(t=0, lay=0x04 | (7 << 3) | 0x10, wlens=(513,))
              + bpost(t=1, sector=0xffffffffffffffff, mode=2,
                      extra=b"\x01" * 512, lay=0x10, wlens=(1,))
              + bpost(t=1, extra=b"\x01" * 100, lay=0x10, wlens=(1,))
              + bpost(t=1, extra=b"\x01" * 512, lay=0x00, wlens=())
              + bkick() + bloop())
    dwz = (bpost(t=4, extra=brange(1, 8) + brange(20, 0) + brange(30, 2),
                 lay=0x11, cuts=(16,), wlens=(1,))
           + bpost(t=5, extra=brange(40, 8, 1), lay=0x10, wlens=(1,))
           + bpost(t=5, extra=brange(50, 8), lay=0x10, wlens=(1,))
           + bpost(t=4, extra=brange(0, 8, 1), lay=0x10, wlens=(1,))
           + bpost(t=4, extra=brange(126, 8), lay=0x10, wlens=(1,))
           + bpost(t=4, extra=b"\x00" * 20, lay=0x10, wlens=(1,))
           + bkick() + bloop() + brestart())
    misc = (bpost(t=2, lay=0x10, wlens=(1,)) + bpost(t=3, lay=0x10,
                                                    wlens=(21,))
            + bpost(t=3, lay=0x10, wlens=(4,)) + bpost(a=1, t=0, lay=0x10,
                                                      wlens=(4097,))
            + bkick() + bkick(1) + bloop() + bytes([4, 0, 16, 4, 36, 8]))
    return {
        "rw": bytes([0x00]) + rw,
        "rw-buffered-split": bytes([0x02 | 0x40]) + rw,
        "layouts": bytes([0x18 | 0x60]) + layouts,
        "errors": bytes([0x18]) + errors,
        "readonly": bytes([0x01 | 0x18]) + errors + dwz,
        "dwz": bytes([0x18]) + dwz,
        "dwz-not-acked": bytes([0x00]) + dwz,
        "two-queues": bytes([0x04 | 0x18 | 0x20]) + misc + rw,
        "quiesce": bytes([0x18 | 0x40]) + rw + bkick() + bquiesce() + layouts
        + bquiesce() + bloop(),
    }


# --- vring_packed -------------------------------------------------------------

def pdesc(addr, length, bid, flags):
    return struct.pack("<QIHH", addr, length, bid, flags)


PK_AVAIL = 1 << 7   # available in wrap 1 (USED clear)


def vring_packed_input(num, flags, base, d, drv, dev, mem):
    hdr = struct.pack("<HBIHHH", num - 1, flags, base, d // 16, drv // 4,
                      dev // 4)
    return hdr + mem


def vring_packed_mem(descs, size=0x9000, at=0):
    mem = bytearray(size)
    mem[at:at + len(descs)] = descs
    return bytes(mem)


def vring_packed_seeds():
    s = {}
    fresh = 0x80008000
    s["single"] = vring_packed_input(
        8, 0, fresh, 0, 0x1000, 0x1004,
        vring_packed_mem(pdesc(0x8000, 100, 0, PK_AVAIL | 2)))
    chain = pdesc(0x8000, 16, 1, PK_AVAIL | 1) + \
        pdesc(0x8100, 64, 1, PK_AVAIL | 1 | 2) + \
        pdesc(0x8200, 64, 1, PK_AVAIL | 2)
    s["chain_event_idx"] = vring_packed_input(
        16, 1, fresh, 0, 0x1000, 0x1004,
        vring_packed_mem(chain + pdesc(0x8400, 8, 2, PK_AVAIL | 2)))
    s["several_size_5"] = vring_packed_input(
        5, 6, fresh, 0, 0x1000, 0x1004,
        vring_packed_mem(chain + pdesc(0x8400, 8, 2, PK_AVAIL | 2) +
                         pdesc(0x8500, 8, 3, PK_AVAIL | 2)))
    mem = bytearray(vring_packed_mem(pdesc(0x6000, 48, 4, PK_AVAIL | 4)))
    mem[0x6000:0x6030] = pdesc(0x8000, 16, 0, 0) + \
        pdesc(0x8100, 64, 0, 2) + pdesc(0x8200, 64, 0, 2)
    s["indirect"] = vring_packed_input(8, 0, fresh, 0, 0x1000, 0x1004,
                                       bytes(mem))
    # A chain over the end of a 4-entry ring: slots 3, 0 (wrap 0 there).
    mem = bytearray(0x9000)
    mem[48:64] = pdesc(0x8000, 8, 0, PK_AVAIL | 1 | 2)
    mem[0:16] = pdesc(0x8100, 8, 0, (1 << 15) | 2)
    s["over_the_end"] = vring_packed_input(4, 2, 0x80038003, 0, 0x1000,
                                           0x1004, bytes(mem))
    s["loop"] = vring_packed_input(
        2, 0, fresh, 0, 0x1000, 0x1004,
        vring_packed_mem(pdesc(0x8000, 4, 0, PK_AVAIL | 1 | 2) +
                         pdesc(0x8000, 4, 0, PK_AVAIL | 1 | 2)))
    # A buffer straddling the A/B boundary; DESC event suppression.
    big = bytearray(0x10100)
    big[0:16] = pdesc(0xff00, 0x200, 0, PK_AVAIL | 2)
    big[0x1000:0x1004] = struct.pack("<HH", 0x8001, 2)
    s["straddle_desc_event"] = vring_packed_input(8, 1, fresh, 0, 0x1000,
                                                  0x1004, bytes(big))
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus"
    for target, seeds in (("vu_msg", vu_msg_seeds()),
                          ("vring", vring_seeds()),
                          ("vring_packed", vring_packed_seeds()),
                          ("conf", conf_seeds()),
                          ("vsock", vsock_seeds()),
                          ("console", console_seeds()),
                          ("blk", blk_seeds())):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
