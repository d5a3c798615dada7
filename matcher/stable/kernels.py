"""Deferred acceptance, compiled with numba, on CSR arrays.

Programs are slots (employer, sector, track) with a capacity; programs of one employer in
one sector and track group share the employer's intake cap (a *group*). Employers rank
candidates by one priority key per edge (lower is better) that is common to the programs
of a group, so a group's choice is greedy by priority under the program and group caps: a
laminar choice function, substitutable and size-monotone, for which deferred acceptance
finds the stable matching that is optimal for the proposing side.

Candidate-proposing (McVitie-Wilson): free candidates propose down their lists one at a
time. A program keeps its held candidates in a max-heap on the priority key, so a
proposal costs O(log capacity); a full program compares with its worst held candidate, a
program with room in a full group with the worst held in the group (groups have one
program per track of the group, so at most a few).

Employer-proposing: each program walks its priority list; a group lets the program
whose next candidate has the best priority propose while the program and the group
have room; candidates hold their best offer. Rejected offers free room and the group
proposes again.

The kernels never touch Python objects: inputs are int64/int32 arrays, outputs the held
edge per candidate (-1 when unmatched).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

I64 = npt.NDArray[np.int64]


@njit(cache=True)
def _sift_up(heap: I64, hkey: I64, base: int, i: int) -> None:
    """Max-heap on ``hkey`` (kept beside the edge ids so a compare is one memory read)."""
    item, k = heap[base + i], hkey[base + i]
    while i > 0:
        parent = (i - 1) >> 1
        if hkey[base + parent] >= k:
            break
        heap[base + i] = heap[base + parent]
        hkey[base + i] = hkey[base + parent]
        i = parent
    heap[base + i] = item
    hkey[base + i] = k


@njit(cache=True)
def _sift_down(heap: I64, hkey: I64, base: int, size: int, i: int) -> None:
    item, k = heap[base + i], hkey[base + i]
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and hkey[base + child + 1] > hkey[base + child]:
            child += 1
        if hkey[base + child] <= k:
            break
        heap[base + i] = heap[base + child]
        hkey[base + i] = hkey[base + child]
        i = child
    heap[base + i] = item
    hkey[base + i] = k


@njit(cache=True)
def heap_push(heap: I64, hkey: I64, base: int, size: int, item: int, key: int) -> None:
    """Insert into the max-heap stored at ``heap[base:base + size]`` (size before insert)."""
    heap[base + size] = item
    hkey[base + size] = key
    _sift_up(heap, hkey, base, size)


@njit(cache=True)
def heap_pop(heap: I64, hkey: I64, base: int, size: int) -> None:
    """Remove the top of the max-heap of ``size`` entries (the caller decrements size)."""
    size -= 1
    if size > 0:
        heap[base] = heap[base + size]
        hkey[base] = hkey[base + size]
        _sift_down(heap, hkey, base, size, 0)


@njit(cache=True)
def candidate_proposing(
    cand_ptr: I64,
    cand_list: I64,
    edge_cand: I64,
    edge_slot: I64,
    pkey: I64,
    slot_cap: I64,
    slot_group: I64,
    group_cap: I64,
    group_ptr: I64,
    group_slots: I64,
) -> tuple[I64, int]:
    """Candidate-optimal stable matching; returns (held edge per candidate, proposals).

    Memory layout is chosen for cache misses, the real cost here: the lists are
    gathered into list order (sequential reads), a program's state sits in one row
    (capacity, group, heap offset, count) and a group's in another.
    """
    n_cand = cand_ptr.shape[0] - 1
    n_slot = slot_cap.shape[0]
    list_slot = edge_slot[cand_list]
    list_key = pkey[cand_list]
    # Heap storage: a program never holds more than its capacity nor its number of edges.
    indeg = np.bincount(edge_slot, minlength=n_slot)
    # Per program: capacity (0 when its group's cap is 0), group, heap base, count, and
    # the worst held key (the heap's top), so the common case, a proposal to a full
    # program by someone worse than all it holds, reads one row and nothing else.
    sinfo = np.empty((n_slot, 5), dtype=np.int64)
    base = 0
    for s in range(n_slot):
        sinfo[s, 0] = slot_cap[s] if group_cap[slot_group[s]] > 0 else 0
        sinfo[s, 1] = slot_group[s]
        sinfo[s, 2] = base
        sinfo[s, 3] = 0
        sinfo[s, 4] = -1
        base += min(slot_cap[s], indeg[s])
    n_group = group_cap.shape[0]
    ginfo = np.empty((n_group, 4), dtype=np.int64)  # cap, count, first program, end
    for g in range(n_group):
        ginfo[g, 0] = group_cap[g]
        ginfo[g, 1] = 0
        ginfo[g, 2] = group_ptr[g]
        ginfo[g, 3] = group_ptr[g + 1]
    heap = np.empty(max(base, 1), dtype=np.int64)
    hkey = np.empty(max(base, 1), dtype=np.int64)
    held = np.full(n_cand, -1, dtype=np.int64)
    nxt = cand_ptr[:-1].copy()
    stack = np.empty(n_cand, dtype=np.int64)
    top = 0
    for c in range(n_cand - 1, -1, -1):
        if cand_ptr[c + 1] > cand_ptr[c]:
            stack[top] = c
            top += 1
    proposals = 0
    while top > 0:
        top -= 1
        c = stack[top]
        i = nxt[c]
        end = cand_ptr[c + 1]
        while i < end:
            s = list_slot[i]
            ke = list_key[i]
            i += 1
            proposals += 1
            cap = sinfo[s, 0]
            if cap == 0:
                continue
            if sinfo[s, 3] >= cap and sinfo[s, 4] < ke:
                continue  # full, and c is worse than everyone it holds: rejected
            g = sinfo[s, 1]
            victim_slot = -1
            if sinfo[s, 3] >= cap:
                victim_slot = s  # the program is full: c must beat its worst
            elif ginfo[g, 1] >= ginfo[g, 0]:
                # Room in the program, none in the group: c must beat the group's worst.
                worst = -1
                for k in range(ginfo[g, 2], ginfo[g, 3]):
                    s2 = group_slots[k]
                    if sinfo[s2, 3] > 0 and (worst < 0 or sinfo[s2, 4] > worst):
                        worst = sinfo[s2, 4]
                        victim_slot = s2
            if victim_slot >= 0:
                b = sinfo[victim_slot, 2]
                if hkey[b] < ke:
                    continue  # rejected: c goes on down its list
                # Displace the worst held: remove the top of its heap.
                w = heap[b]
                size = sinfo[victim_slot, 3] - 1
                sinfo[victim_slot, 3] = size
                ginfo[g, 1] -= 1
                heap[b] = heap[b + size]
                hkey[b] = hkey[b + size]
                if size > 0:
                    _sift_down(heap, hkey, b, size, 0)
                sinfo[victim_slot, 4] = hkey[b] if size > 0 else -1
                c2 = edge_cand[w]
                held[c2] = -1
                stack[top] = c2
                top += 1
            b = sinfo[s, 2]
            n = sinfo[s, 3]
            heap[b + n] = cand_list[i - 1]
            hkey[b + n] = ke
            _sift_up(heap, hkey, b, n)
            sinfo[s, 3] = n + 1
            sinfo[s, 4] = hkey[b]
            ginfo[g, 1] += 1
            held[c] = cand_list[i - 1]
            break
        nxt[c] = i
    return held, proposals


@njit(cache=True)
def employer_proposing(
    slot_ptr: I64,
    slot_list: I64,
    edge_cand: I64,
    edge_slot: I64,
    crank: I64,
    pkey: I64,
    n_cand: int,
    slot_cap: I64,
    slot_group: I64,
    group_cap: I64,
    group_ptr: I64,
    group_slots: I64,
) -> tuple[I64, int]:
    """Employer-optimal stable matching; returns (held edge per candidate, offers).

    ``slot_list`` holds each program's edges in priority order; ``crank`` is the
    candidate's rank of each edge (lower is better).
    """
    n_group = group_cap.shape[0]
    n_slot = slot_cap.shape[0]
    nxt = slot_ptr[:-1].copy()
    count = np.zeros(n_slot, dtype=np.int64)
    gcount = np.zeros(n_group, dtype=np.int64)
    held = np.full(n_cand, -1, dtype=np.int64)
    queue = np.empty(n_group, dtype=np.int64)
    queued = np.ones(n_group, dtype=np.bool_)
    for g in range(n_group):
        queue[g] = g
    head = 0
    tail = 0  # ring buffer: full at the start; each group is queued at most once
    size = n_group
    offers = 0
    while size > 0:
        g = queue[head]
        head = (head + 1) % n_group
        size -= 1
        queued[g] = False
        while gcount[g] < group_cap[g]:
            # The program with room whose next candidate has the best priority proposes.
            best = -1
            for k in range(group_ptr[g], group_ptr[g + 1]):
                s = group_slots[k]
                can = count[s] < slot_cap[s] and nxt[s] < slot_ptr[s + 1]
                if can and (best < 0 or pkey[slot_list[nxt[s]]] < pkey[slot_list[nxt[best]]]):
                    best = s
            if best < 0:
                break
            e = slot_list[nxt[best]]
            nxt[best] += 1
            offers += 1
            c = edge_cand[e]
            h = held[c]
            if h >= 0 and crank[h] <= crank[e]:
                continue  # the candidate keeps what it holds
            count[best] += 1
            gcount[g] += 1
            held[c] = e
            if h >= 0:
                s2 = edge_slot[h]
                g2 = slot_group[s2]
                count[s2] -= 1
                gcount[g2] -= 1
                if not queued[g2] and g2 != g:
                    queue[tail] = g2
                    tail = (tail + 1) % n_group
                    size += 1
                    queued[g2] = True
    return held, offers


@njit(cache=True)
def flexible(
    cand_ptr: I64,
    cand_list: I64,
    edge_cand: I64,
    edge_slot: I64,
    pkey: I64,
    slot_cap: I64,
    slot_group: I64,
    group_cap: I64,
    group_target: I64,
    group_region: I64,
    region_cap: I64,
    region_top: I64,
    top_cap: I64,
    top_ptr: I64,
    top_groups: I64,
    reg_ptr: I64,
    reg_idx: I64,
    reg_cap: I64,
) -> tuple[I64, int]:
    """Flexible deferred acceptance (Kamada and Kojima 2015) under nested regional caps.

    Regions are the national caps (sector, track group), nested in the track-group
    totals ("top" regions). Candidates propose in rounds (every rejected candidate at
    once). Each round every group (an employer's intake) first takes its best
    applicants up to its *target* (targets respect every cap); then each top region
    hands its remaining seats round-robin over its groups (in index order), each taking
    its next best applicant that fits its programs, its own cap, its national cap and the
    top cap, until no seat or no taker is left. Regional caps (prefecture sets, which
    cross the sector regions; ``reg_ptr``/``reg_idx`` list a group's) bound the targets
    already and are checked for every round-robin seat. Returns (held edge per
    candidate, rounds).
    """
    n_cand = cand_ptr.shape[0] - 1
    n_slot = slot_cap.shape[0]
    n_group = group_cap.shape[0]
    n_region = region_cap.shape[0]
    ptr = cand_ptr[:-1].copy()
    cur = np.full(n_cand, -1, dtype=np.int64)
    for c in range(n_cand):
        if ptr[c] < cand_ptr[c + 1]:
            cur[c] = cand_list[ptr[c]]
    count = np.zeros(n_slot, dtype=np.int64)
    gcount = np.zeros(n_group, dtype=np.int64)
    rcount = np.zeros(n_region, dtype=np.int64)
    # prev: last round's accepted, in (group, priority) order; new: this round's proposals.
    prev = np.empty(n_cand, dtype=np.int64)
    n_prev = 0
    new = np.empty(n_cand, dtype=np.int64)
    n_new = 0
    for c in range(n_cand):
        if cur[c] >= 0:
            new[n_new] = cur[c]
            n_new += 1
    pool = np.empty(n_cand, dtype=np.int64)
    apps = np.empty(n_cand, dtype=np.int64)
    active = np.empty(n_group, dtype=np.int64)
    regcount = np.zeros(reg_cap.shape[0], dtype=np.int64)
    accepted = np.zeros(edge_slot.shape[0], dtype=np.bool_)
    gstart = np.zeros(n_group + 1, dtype=np.int64)
    gpos = np.zeros(n_group, dtype=np.int64)
    rounds = 0
    while True:
        rounds += 1
        # Applicants per group, in priority order. Last round's accepted applicants are
        # already in order: a stable counting sort by group keeps them so and puts the
        # new proposals after them, and an insertion sort moves those few into place.
        n_app = 0
        for i in range(n_prev):
            pool[n_app] = prev[i]
            n_app += 1
        for i in range(n_new):
            pool[n_app] = new[i]
            n_app += 1
        gstart[:] = 0
        for i in range(n_app):
            gstart[slot_group[edge_slot[pool[i]]] + 1] += 1
        for g in range(n_group):
            gstart[g + 1] += gstart[g]
        fill = gstart[:-1].copy()
        for i in range(n_app):
            e = pool[i]
            g = slot_group[edge_slot[e]]
            apps[fill[g]] = e
            fill[g] += 1
        for g in range(n_group):
            for i in range(gstart[g] + 1, gstart[g + 1]):
                e = apps[i]
                k = pkey[e]
                j = i
                while j > gstart[g] and pkey[apps[j - 1]] > k:
                    apps[j] = apps[j - 1]
                    j -= 1
                apps[j] = e
        count[:] = 0
        gcount[:] = 0
        rcount[:] = 0
        regcount[:] = 0
        for i in range(n_app):
            accepted[apps[i]] = False
        # Phase 1: every group up to its target.
        for g in range(n_group):
            limit = min(group_cap[g], group_target[g])
            i = gstart[g]
            while i < gstart[g + 1] and gcount[g] < limit:
                e = apps[i]
                s = edge_slot[e]
                if count[s] < slot_cap[s]:
                    accepted[e] = True
                    count[s] += 1
                    gcount[g] += 1
                i += 1
            gpos[g] = i
            rcount[group_region[g]] += gcount[g]
            for k in range(reg_ptr[g], reg_ptr[g + 1]):
                regcount[reg_idx[k]] += gcount[g]
        # Phase 2: each top region's remaining seats, round-robin over its groups (index
        # order). Only groups that can still take someone stay in the active list: counts
        # only grow in this phase, so a group that cannot take now never can.
        for t in range(top_cap.shape[0]):
            room = top_cap[t]
            n_act = 0
            for k in range(top_ptr[t], top_ptr[t + 1]):
                g = top_groups[k]
                room -= gcount[g]
                if gpos[g] < gstart[g + 1] and gcount[g] < group_cap[g]:
                    active[n_act] = g
                    n_act += 1
            while room > 0 and n_act > 0:
                kept = 0
                for a in range(n_act):
                    if room <= 0:
                        break
                    g = active[a]
                    r = group_region[g]
                    if gcount[g] >= group_cap[g] or rcount[r] >= region_cap[r]:
                        continue
                    full = False
                    for j in range(reg_ptr[g], reg_ptr[g + 1]):
                        if regcount[reg_idx[j]] >= reg_cap[reg_idx[j]]:
                            full = True
                    if full:
                        continue
                    i = gpos[g]
                    while i < gstart[g + 1]:
                        e = apps[i]
                        i += 1
                        s = edge_slot[e]
                        if count[s] < slot_cap[s]:
                            accepted[e] = True
                            count[s] += 1
                            gcount[g] += 1
                            rcount[r] += 1
                            for j in range(reg_ptr[g], reg_ptr[g + 1]):
                                regcount[reg_idx[j]] += 1
                            room -= 1
                            break
                    gpos[g] = i
                    if i < gstart[g + 1] and gcount[g] < group_cap[g]:
                        active[kept] = g
                        kept += 1
                n_act = kept
        # Rejected applicants move on down their lists; the accepted stay in order.
        n_prev = 0
        n_new = 0
        for i in range(n_app):
            e = apps[i]
            if accepted[e]:
                prev[n_prev] = e
                n_prev += 1
            else:
                c = edge_cand[e]
                ptr[c] += 1
                cur[c] = cand_list[ptr[c]] if ptr[c] < cand_ptr[c + 1] else -1
                if cur[c] >= 0:
                    new[n_new] = cur[c]
                    n_new += 1
        if n_app == n_prev:
            break
    return cur, rounds
