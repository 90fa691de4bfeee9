"""Bookkeeping of the paged KV cache's blocks, with prefix caching.

A block that is full of a request's tokens is named by a hash of those tokens and of every token
before them (a chain: the parent block's hash goes into the child's), plus the LoRA adapter that
computed it. A later request whose prompt starts with the same tokens finds those blocks by hash
and reuses their keys and values instead of computing them again (system prompts, chat history,
the n choices of one prompt). Blocks no request uses any more keep their contents, least recently
used first in line to be overwritten, until a new block is needed.

A prompt that departs from a cached one inside a block still shares the tokens before that point:
every named block is also listed under its parent (and salt) with its tokens, and so is the last,
part-filled block of a finished request (`register_tail`); `share_longest` finds the one that
starts with most of the next tokens, whose keys and values the engine copies into a block of the
new request's own. A repeated prompt is then computed from its last token only, as llama.cpp's
server does, not from the start of its last block.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict
from collections.abc import Sequence


class OutOfBlocks(RuntimeError):
    """Every block of the KV cache is in use."""


def parent_key(parent: bytes, salt: str = "") -> bytes:
    """What the blocks that follow the block named `parent` (b"": none) are listed under."""
    return parent + b"\0" + salt.encode()


def block_hash(parent: bytes, tokens: Sequence[int], salt: str = "") -> bytes:
    """The name of a full block of `tokens` that follows the block named `parent`."""
    digest = hashlib.blake2b(parent, digest_size=16)
    digest.update(salt.encode())
    digest.update(b"\0")
    digest.update(b"".join(t.to_bytes(4, "little") for t in tokens))
    return digest.digest()


class BlockAllocator:
    def __init__(self, num_blocks: int, prefix_caching: bool = True) -> None:
        self.num_blocks = num_blocks
        self.prefix_caching = prefix_caching
        # Blocks holding nothing worth keeping, lowest first: the cache's pages are committed by
        # the system as they are first written, so reusing low blocks keeps memory to what is used.
        self._free = list(range(num_blocks))
        self._idle: OrderedDict[bytes, int] = OrderedDict()  # unused, holding a prefix; oldest first
        self._by_hash: dict[bytes, int] = {}
        self._hash_of: dict[int, bytes] = {}
        self._refs = [0] * num_blocks
        self._children: dict[bytes, dict[int, tuple[int, ...]]] = {}  # parent key -> block -> its tokens
        self._listed_under: dict[int, bytes] = {}
        self.queried_blocks = 0
        self.hit_blocks = 0

    @property
    def available(self) -> int:
        """Blocks that `allocate` can hand out."""
        return len(self._free) + len(self._idle)

    @property
    def used(self) -> int:
        return self.num_blocks - self.available

    def allocate(self) -> int:
        """A block for new tokens; the oldest idle prefix block is given up when none is free."""
        if self._free:
            block = heapq.heappop(self._free)
        elif self._idle:
            digest, block = self._idle.popitem(last=False)
            self._forget(digest, block)
        else:
            raise OutOfBlocks("the KV cache is full")
        self._refs[block] = 1
        return block

    def find(self, digest: bytes) -> int | None:
        """The block holding the prefix named `digest`, now held for the caller; None if unknown."""
        if not self.prefix_caching:
            return None
        self.queried_blocks += 1
        block = self._by_hash.get(digest)
        if block is None:
            return None
        self.hit_blocks += 1
        if self._refs[block] == 0:
            del self._idle[digest]
        self._refs[block] += 1
        return block

    def register(self, block: int, digest: bytes, parent: bytes | None = None, tokens: Sequence[int] = ()) -> None:
        """`block` is full and holds the prefix named `digest` (the first block named so keeps it);
        with `parent` (a parent_key), it is listed there with its `tokens`."""
        if self.prefix_caching and digest not in self._by_hash and block not in self._hash_of:
            self._by_hash[digest] = block
            self._hash_of[block] = digest
            if parent is not None:
                self._children.setdefault(parent, {})[block] = tuple(tokens)
                self._listed_under[block] = parent

    def register_tail(self, block: int, parent: bytes, tokens: Sequence[int]) -> None:
        """`block` is a finished request's last block, filled with `tokens` (fewer than a block's)
        after the prefix listed as `parent`: kept for share_longest while it is idle."""
        self.register(block, block_hash(parent, tokens, "tail"), parent, tokens)

    def share_longest(self, parent: bytes, tokens: Sequence[int]) -> tuple[int, int] | None:
        """The block listed under `parent` whose tokens start with most of `tokens`, held for the
        caller (who copies from it, then releases it), and how many of its tokens are shared."""
        if not self.prefix_caching:
            return None
        best, shared = None, 0
        for block, own in self._children.get(parent, {}).items():
            count = 0
            for mine, theirs in zip(own, tokens, strict=False):
                if mine != theirs:
                    break
                count += 1
            if count > shared:
                best, shared = block, count
        if best is None:
            return None
        if self._refs[best] == 0:
            del self._idle[self._hash_of[best]]
        self._refs[best] += 1
        return best, shared

    def _forget(self, digest: bytes, block: int) -> None:
        del self._by_hash[digest], self._hash_of[block]
        parent = self._listed_under.pop(block, None)
        if parent is not None:
            children = self._children[parent]
            del children[block]
            if not children:
                del self._children[parent]

    def release(self, block: int) -> None:
        self._refs[block] -= 1
        if self._refs[block] > 0:
            return
        digest = self._hash_of.get(block)
        if digest is None:
            heapq.heappush(self._free, block)
        else:
            self._idle[digest] = block  # newest last: evicted after the older ones

    def reset_prefix_cache(self) -> None:
        """Forget every idle prefix (their blocks become free)."""
        for digest, block in self._idle.items():
            self._forget(digest, block)
            heapq.heappush(self._free, block)
        self._idle.clear()
