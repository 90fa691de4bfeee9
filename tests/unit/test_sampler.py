import torch

from triton_openai.models.llm.params import SamplingParams
from triton_openai.models.llm.sampler import PenaltyState, SamplingRow, sample

VOCAB = 8


def row(seed=0, generated=0, stop_ids=(), **params):
    return SamplingRow(SamplingParams(**params), torch.Generator().manual_seed(seed), generated, stop_ids)


def state(rows, prompts=None):
    penalties = PenaltyState(VOCAB, torch.device("cpu"))
    for prompt in prompts or [[] for _ in range(rows)]:
        penalties.append(penalties.new_row(prompt))
    return penalties


def test_greedy_takes_the_argmax():
    logits = torch.tensor([[0.0, 3.0, 1.0, 0, 0, 0, 0, 0]])
    assert sample(logits, [row(temperature=0.0)], state(1)).tolist() == [1]


def test_top_k_one_is_greedy_even_when_hot():
    logits = torch.tensor([[0.0, 3.0, 2.9, 0, 0, 0, 0, 0]])
    picks = {sample(logits, [row(seed=s, temperature=2.0, top_k=1)], state(1)).item() for s in range(20)}
    assert picks == {1}


def test_same_seed_same_tokens_different_seed_differs():
    logits = torch.zeros((1, VOCAB))

    def draws(seed):
        r = row(seed=seed, temperature=1.0)
        return [sample(logits, [r], state(1)).item() for _ in range(12)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.1, 0.05, 0.05, 1e-9, 1e-9, 1e-9]]))
    picks = {sample(logits, [row(seed=s, top_p=0.75)], state(1)).item() for s in range(60)}
    assert picks == {0, 1}


def test_min_p_drops_unlikely_tokens():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.05, 0.05, 1e-9, 1e-9, 1e-9, 1e-9]]))
    picks = {sample(logits, [row(seed=s, min_p=0.2)], state(1)).item() for s in range(60)}
    assert picks == {0, 1}


def test_rows_keep_their_own_parameters():
    logits = torch.tensor([[0.0, 5.0, 0, 0, 0, 0, 0, 0], [0.0, 0, 0, 0, 0, 0, 0, 5.0]])
    tokens = sample(logits, [row(temperature=0.0), row(temperature=0.0)], state(2))
    assert tokens.tolist() == [1, 7]


def test_frequency_and_presence_penalties_push_away_repeats():
    penalties = state(1)
    penalties.counts[0, 1] = 3  # token 1 already generated 3 times
    logits = torch.tensor([[0.0, 2.0, 1.5, 0, 0, 0, 0, 0]])
    assert sample(logits.clone(), [row(temperature=0.0)], state(1)).item() == 1
    assert sample(logits.clone(), [row(temperature=0.0, frequency_penalty=0.5)], penalties).item() == 2
    once = state(1)
    once.counts[0, 1] = 1
    assert sample(logits.clone(), [row(temperature=0.0, presence_penalty=1.0)], once).item() == 2


def test_repetition_penalty_covers_the_prompt():
    logits = torch.tensor([[0.0, 2.0, 1.5, 0, 0, 0, 0, 0]])
    penalties = state(1, prompts=[[1]])
    assert sample(logits, [row(temperature=0.0, repetition_penalty=1.5)], penalties).item() == 2


def test_min_tokens_masks_stop_tokens_until_reached():
    logits = torch.tensor([[0.0, 0, 9.0, 0, 0, 0, 0, 1.0]])
    early = row(temperature=0.0, min_tokens=3, generated=1, stop_ids=(2,))
    late = row(temperature=0.0, min_tokens=3, generated=3, stop_ids=(2,))
    assert sample(logits.clone(), [early], state(1)).item() == 7
    assert sample(logits.clone(), [late], state(1)).item() == 2


def test_logit_bias():
    logits = torch.tensor([[0.0, 2.0, 0, 0, 0, 0, 0, 0]])
    assert sample(logits, [row(temperature=0.0, logit_bias={5: 10.0})], state(1)).item() == 5


def test_choices_are_recorded_for_penalties():
    penalties = state(2)
    sample(torch.tensor([[0.0, 5.0, 0, 0, 0, 0, 0, 0]] * 2), [row(temperature=0.0)] * 2, penalties)
    assert penalties.counts[:, 1].tolist() == [1.0, 1.0]


def test_filters_apply_per_row_in_a_batch():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.05, 0.05, 1e-9, 1e-9, 1e-9, 1e-9]] * 3))
    rows = [row(seed=1, min_p=0.2), row(seed=2, top_p=0.5), row(seed=3, top_k=2)]
    for seed in range(20):
        for r in rows:
            r.generator.manual_seed(seed)
        tokens = sample(logits.clone(), rows, state(3)).tolist()
        assert tokens[0] in (0, 1) and tokens[1] == 0 and tokens[2] in (0, 1)


def test_a_seeded_row_draws_the_same_whatever_its_neighbours():
    torch.manual_seed(0)
    logits = torch.randn(1, VOCAB)
    neighbours = [row(seed=1, top_p=0.5), row(seed=2, top_k=3), row(seed=3, temperature=0.0)]
    for seed in range(10):
        alone = sample(logits.clone(), [row(seed=seed)], state(1)).item()
        batch = torch.cat([logits, torch.randn(3, VOCAB)])
        assert sample(batch, [row(seed=seed), *neighbours], state(4)).tolist()[0] == alone
