"""Hash tables of iL2SH (the KR stream of CRKR; Cao, Lu & Zhang, IEEE TIP 2024; L2SH, Lu et al., TCSVT 2022).

One table per hash head. The key of a real-valued code h_i in (0,1)^r is its rounded bit pattern, packed
into an int64; each bucket keeps its count and the running mean of the real-valued codes that fell in it.
Retrieval is read-only (the reference's defaultdict lookup inserted empty buckets): an absent key gives
the maximal distance sqrt(r). Tables are plain arrays, saved in the model's state dict.
"""

from __future__ import annotations

import numpy as np
import torch


def pack_keys(codes: np.ndarray) -> np.ndarray:
    """Bucket keys of real codes [..., r] (r <= 62): bit j = round(h_j) (h > 0.5), packed little-endian."""
    r = codes.shape[-1]
    if r > 62:
        raise ValueError(f"two_stream: hash codes longer than 62 bits are not supported (got {r})")
    bits = (codes > 0.5).astype(np.int64)
    return (bits << np.arange(r, dtype=np.int64)).sum(-1)


class HashTables:
    """``n_heads`` tables: sorted int64 ``keys`` [K], int64 ``counts`` [K], float32 ``centres`` [K, r]."""

    def __init__(self, n_heads: int, code_len: int) -> None:
        self.n_heads, self.code_len = n_heads, code_len
        self.keys = [np.zeros(0, np.int64) for _ in range(n_heads)]
        self.counts = [np.zeros(0, np.int64) for _ in range(n_heads)]
        self.centres = [np.zeros((0, code_len), np.float32) for _ in range(n_heads)]

    def insert(self, codes: np.ndarray) -> None:
        """Add real codes [N, n_heads, r]; a bucket's centre stays the mean of all codes it received."""
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 3 or codes.shape[1:] != (self.n_heads, self.code_len):
            raise ValueError(f"two_stream: codes must be [N,{self.n_heads},{self.code_len}], got {codes.shape}")
        for i in range(self.n_heads):
            keys = np.concatenate([self.keys[i], pack_keys(codes[:, i])])
            weights = np.concatenate([self.counts[i], np.ones(len(codes), np.int64)])
            sums = np.concatenate([self.centres[i].astype(np.float64) * self.counts[i][:, None], codes[:, i]])
            uniq, inv = np.unique(keys, return_inverse=True)
            cnt = np.bincount(inv, weights=weights, minlength=len(uniq)).astype(np.int64)
            tot = np.zeros((len(uniq), self.code_len))
            np.add.at(tot, inv, sums)
            self.keys[i], self.counts[i] = uniq, cnt
            self.centres[i] = (tot / cnt[:, None]).astype(np.float32)

    def distances(self, codes: np.ndarray) -> np.ndarray:
        """Read-only retrieval: [M, n_heads] distances ||h_i - centre_i(key)||, sqrt(r) for absent keys."""
        codes = np.asarray(codes, dtype=np.float32)
        out = np.full(codes.shape[:2], np.sqrt(self.code_len), dtype=np.float32)
        for i in range(self.n_heads):
            if len(self.keys[i]) == 0:
                continue
            q = pack_keys(codes[:, i])
            pos = np.minimum(np.searchsorted(self.keys[i], q), len(self.keys[i]) - 1)
            hit = self.keys[i][pos] == q
            out[hit, i] = np.linalg.norm(codes[hit, i] - self.centres[i][pos[hit]], axis=1)
        return out

    def n_buckets(self) -> list[int]:
        return [len(k) for k in self.keys]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors: ``table{i}.keys|counts|centres``."""
        state: dict[str, torch.Tensor] = {}
        for i in range(self.n_heads):
            state[f"table{i}.keys"] = torch.from_numpy(self.keys[i].copy())
            state[f"table{i}.counts"] = torch.from_numpy(self.counts[i].copy())
            state[f"table{i}.centres"] = torch.from_numpy(self.centres[i].copy())
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], n_heads: int, code_len: int) -> HashTables:
        tables = cls(n_heads, code_len)
        for i in range(n_heads):
            tables.keys[i] = state[f"table{i}.keys"].numpy().astype(np.int64)
            tables.counts[i] = state[f"table{i}.counts"].numpy().astype(np.int64)
            tables.centres[i] = state[f"table{i}.centres"].numpy().astype(np.float32)
        return tables


def retrieval_scores(distances: np.ndarray) -> np.ndarray:
    """Per-crop score = min over heads; snippet score = mean over crops. [M, n_crops, b] -> [M]."""
    return distances.min(-1).mean(-1)
