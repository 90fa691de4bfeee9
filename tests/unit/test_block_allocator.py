"""triton_openai.models.llm.block_allocator: free blocks, prefix blocks found by their hash chain, eviction order."""

from __future__ import annotations

import pytest

from triton_openai.models.llm.block_allocator import BlockAllocator, OutOfBlocks, block_hash, parent_key


def chain(*blocks, salt=""):
    hashes, parent = [], b""
    for tokens in blocks:
        parent = block_hash(parent, tokens, salt)
        hashes.append(parent)
    return hashes


def test_a_hash_names_the_whole_prefix():
    a, b = chain([1, 2], [3, 4]), chain([9, 9], [3, 4])
    assert a[1] != b[1]  # same tokens, other parent
    assert chain([1, 2], salt="lora-x")[0] != a[0]
    assert chain([1, 2], [3, 4]) == a


def test_low_blocks_go_first_and_all_can_be_used():
    allocator = BlockAllocator(3)
    assert [allocator.allocate() for _ in range(3)] == [0, 1, 2]
    with pytest.raises(OutOfBlocks):
        allocator.allocate()
    allocator.release(1)
    assert allocator.allocate() == 1


def test_a_released_prefix_block_is_found_until_it_is_needed():
    allocator = BlockAllocator(2)
    first, second = allocator.allocate(), allocator.allocate()
    digest = chain([1, 2])[0]
    allocator.register(first, digest)
    allocator.release(first)
    allocator.release(second)
    assert allocator.available == 2
    assert allocator.find(digest) == first  # held again, out of the idle list
    assert allocator.available == 1
    allocator.release(first)
    allocator.allocate()  # the free block goes first
    assert allocator.allocate() == first  # then the idle prefix block is given up
    assert allocator.find(digest) is None
    assert (allocator.hit_blocks, allocator.queried_blocks) == (1, 2)


def test_the_oldest_idle_prefix_is_evicted_first():
    allocator = BlockAllocator(2)
    old, new = allocator.allocate(), allocator.allocate()
    allocator.register(old, b"old")
    allocator.register(new, b"new")
    allocator.release(old)
    allocator.release(new)
    assert allocator.allocate() == old
    assert allocator.find(b"new") == new


def test_without_prefix_caching_nothing_is_found():
    allocator = BlockAllocator(1, prefix_caching=False)
    block = allocator.allocate()
    allocator.register(block, b"x")
    allocator.release(block)
    assert allocator.find(b"x") is None


def test_the_block_sharing_most_of_the_next_tokens_is_found_and_held():
    allocator = BlockAllocator(4)
    full, tail, other = allocator.allocate(), allocator.allocate(), allocator.allocate()
    parent = parent_key(chain([1, 2])[0])
    allocator.register(full, chain([1, 2], [3, 4])[1], parent, [3, 4])
    allocator.register_tail(tail, parent, [3, 5, 6])
    allocator.register_tail(other, parent_key(b"", "lora-x"), [3, 5, 6])  # another adapter's
    for block in (full, tail, other):
        allocator.release(block)
    assert allocator.share_longest(parent, [3, 5, 7]) == (tail, 2)
    assert allocator.available == 3  # held until the caller releases it
    allocator.release(tail)
    assert allocator.share_longest(parent, [3, 9]) in ((full, 1), (tail, 1))
    assert allocator.share_longest(parent, [8]) is None
    assert allocator.share_longest(parent_key(b""), [3, 5]) is None


def test_an_evicted_block_is_no_longer_shared():
    allocator = BlockAllocator(1)
    block = allocator.allocate()
    allocator.register_tail(block, parent_key(b""), [7, 8])
    allocator.release(block)
    assert allocator.allocate() == block  # given up for new tokens
    assert allocator.share_longest(parent_key(b""), [7, 8]) is None
