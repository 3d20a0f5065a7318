#!/usr/bin/python3
"""PyTorch reference for `attograd train`: the same CNN+Attention network and pipeline.

Reads DIR/train.tsv, DIR/val.tsv, DIR/test.tsv (text_a<TAB>text_b<TAB>label), builds the
vocabulary the way attograd's tokenizer does (Keras TextVectorization defaults), trains the
seeds' network with Keras's defaults, keeps the epoch with the lowest validation loss, and
reports test accuracy, AUC and loss, seconds per epoch and pairs per second.

    /usr/bin/python3 bench/torch_similarity.py --data data/bible --attention dot --epochs 4

The network, written as Keras would build it (shapes for batch B, query length Tq, value
length Tv, E = --dim, F = --filters):

    a (B,Tq), b (B,Tv) int token ids, 0 = padding;  mask = id != 0
    Embedding(max_tokens, E), uniform ±0.05, masked steps zeroed       -> (B,T,E)
    Conv1D(F, kernel 4, padding 'same': 1 left, 2 right), shared       -> q (B,Tq,F), v (B,Tv,F)
    scores  dot:      s = q·vᵀ
            additive: s = Σ_d scale_d·tanh(q_d + v_d)   (scale (F,), glorot uniform)
            concat:   s = w·Σ_d tanh(q_d + v_d)          (w scalar, initialised to 1)
    s -= 1e9 where the value is padding; a = softmax over Tv; o = a·v; o rows zeroed where
    the query is padding
    GlobalAveragePooling1D, mask-aware (Σ x·m / Σ m), of q and of o  -> concat (B,2F)
    Dense(64, relu) -> Dense(1, sigmoid)                               -> p (B,)
    loss: binary cross-entropy on p clipped to [1e-7, 1-1e-7] (Keras 3)
    Adam (Keras's form): w -= lr·√(1-β2^t)/(1-β1^t) · m / (√v + ε)

The additive and concat scores are computed the straightforward PyTorch way, materialising
the (B,Tq,Tv,F) tensor; that is what attograd's fused kernel avoids.
"""

import argparse
import copy
import json
import math
import os
import platform
import re
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    print("SKIP: PyTorch not installed")
    sys.exit(0)

# Keras's DEFAULT_STRIP_REGEX r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']' as a byte set
# (",-\." is the range , - .), deleted from the text.
PUNCTUATION = b"!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
PAD, OOV = 0, 1
TWO_BYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]")


def lower_cp(cp):
    """Lowercase of a code point as attograd's text.c has it: ASCII, Latin-1, Latin Extended-A,
    basic Greek and Cyrillic capitals (those whose lowercase is as long in UTF-8)."""
    if 0xC0 <= cp <= 0xDE and cp != 0xD7:
        return cp + 0x20
    if 0x100 <= cp <= 0x137 and cp != 0x130 or 0x14A <= cp <= 0x177:
        return cp | 1
    if 0x139 <= cp <= 0x148 or 0x179 <= cp <= 0x17E:
        return cp + 1 if cp & 1 else cp
    if cp == 0x178:
        return 0xFF
    if 0x391 <= cp <= 0x3A9 and cp != 0x3A2 or 0x410 <= cp <= 0x42F:
        return cp + 0x20
    if 0x400 <= cp <= 0x40F:
        return cp + 0x50
    return cp


def lower_two_byte(m):
    c0, c1 = m.group()
    cp = lower_cp(((c0 & 0x1F) << 6) | (c1 & 0x3F))
    return bytes((0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)))


def tokenize(text):
    """bytes -> list of byte tokens: lowercase, strip punctuation, split on ASCII whitespace."""
    return TWO_BYTE.sub(lower_two_byte, text.lower()).translate(None, PUNCTUATION).split()


def read_pairs(path):
    """-> list of (text_a bytes, text_b bytes, label float), checked as attograd's loader does
    (3 fields, non-blank texts, label 0/1/0.0/1.0, LF or CRLF, a UTF-8 BOM skipped)."""
    with open(path, "rb") as f:
        lines = f.read()
    if lines.startswith(b"\xef\xbb\xbf"):
        lines = lines[3:]
    lines = lines.split(b"\n")
    if not lines[-1]:
        lines.pop()  # what follows the last newline
    rows = []
    for n, line in enumerate(lines, 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if b"\0" in line:
            sys.exit("%s:%d: contains a NUL byte" % (path, n))
        fields = line.split(b"\t")
        if len(fields) != 3:
            sys.exit("%s:%d: expected 3 tab-separated fields, found %d" % (path, n, len(fields)))
        a, b, label = fields
        for k, text in enumerate((a, b)):
            if not text.strip(b" \t\v\f"):
                sys.exit("%s:%d: %s is empty" % (path, n, ("text_a (field 1)", "text_b (field 2)")[k]))
        if label in (b"0", b"0.0"):
            y = 0.0
        elif label in (b"1", b"1.0"):
            y = 1.0
        else:
            sys.exit("%s:%d: label (field 3) must be 0 or 1, found \"%s\"" % (
                path, n, label[:40].decode("utf-8", "replace")))
        rows.append((a, b, y))
    if not rows:
        sys.exit("%s: no pairs (expected lines text_a<TAB>text_b<TAB>label)" % path)
    return rows


def build_vocabulary(rows, max_tokens):
    """Index 0 "", 1 "[UNK]", then the most frequent tokens of text_a and text_b (ties: first
    occurrence, text_a then text_b, row by row), max_tokens entries in all."""
    count = {}  # insertion order = first occurrence
    for a, b, _ in rows:
        for text in (a, b):
            for t in tokenize(text):
                count[t] = count.get(t, 0) + 1
    first = {t: i for i, t in enumerate(count)}
    ranked = sorted(count, key=lambda t: (-count[t], first[t]))
    vocab = [b"", b"[UNK]"] + ranked[: max(0, max_tokens - 2)]
    return {t: i for i, t in enumerate(vocab)}, len(count)


def encode(text, index):
    ids = [index.get(t, OOV) for t in tokenize(text)]
    return ids if ids else [OOV]  # a text with no tokens is one OOV token, never all padding


def encode_rows(rows, index):
    return ([encode(a, index) for a, _, _ in rows], [encode(b, index) for _, b, _ in rows],
            np.array([y for _, _, y in rows], dtype=np.float32))


def pad_batch(seqs, idx):
    """Pads the chosen sequences with 0 to this batch's longest -> (B,T) int64."""
    longest = max(len(seqs[i]) for i in idx)
    out = np.zeros((len(idx), longest), dtype=np.int64)
    for r, i in enumerate(idx):
        out[r, : len(seqs[i])] = seqs[i]
    return torch.from_numpy(out)


def glorot_uniform_(w, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        w.uniform_(-limit, limit)
    return w


class SimilarityNet(torch.nn.Module):
    def __init__(self, max_tokens, dim, filters, attention, kernel_size=4, hidden=64):
        super().__init__()
        self.attention = attention
        self.kernel_size = kernel_size
        self.embedding = torch.nn.Embedding(max_tokens, dim)
        torch.nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        self.conv = torch.nn.Conv1d(dim, filters, kernel_size)  # weight (F,E,K)
        glorot_uniform_(self.conv.weight, kernel_size * dim, kernel_size * filters)
        torch.nn.init.zeros_(self.conv.bias)
        if attention == "additive":
            self.scale = torch.nn.Parameter(torch.empty(filters))
            glorot_uniform_(self.scale, filters, filters)  # Keras: a (F,) shape has fan_in = fan_out = F
        elif attention == "concat":
            self.concat_weight = torch.nn.Parameter(torch.ones(()))
        self.dense = torch.nn.Linear(2 * filters, hidden)
        self.out = torch.nn.Linear(hidden, 1)
        for layer in (self.dense, self.out):
            glorot_uniform_(layer.weight, layer.in_features, layer.out_features)
            torch.nn.init.zeros_(layer.bias)

    def encode(self, ids, m):
        # ids (B,T), m (B,T) float -> (B,T,F)
        x = self.embedding(ids) * m.unsqueeze(-1)  # mask_zero: padding steps are zero
        total = self.kernel_size - 1  # TF 'same': floor(total/2) left, the rest right
        x = F.pad(x.transpose(1, 2), (total // 2, total - total // 2))
        return self.conv(x).transpose(1, 2)

    def forward(self, a, b):
        qm, vm = (a != PAD).float(), (b != PAD).float()  # (B,Tq), (B,Tv)
        q, v = self.encode(a, qm), self.encode(b, vm)  # (B,Tq,F), (B,Tv,F)
        if self.attention == "dot":
            s = torch.bmm(q, v.transpose(1, 2))  # (B,Tq,Tv)
        elif self.attention == "additive":
            s = (torch.tanh(q.unsqueeze(2) + v.unsqueeze(1)) * self.scale).sum(-1)  # via (B,Tq,Tv,F)
        else:
            s = self.concat_weight * torch.tanh(q.unsqueeze(2) + v.unsqueeze(1)).sum(-1)
        s = s - 1e9 * (1.0 - vm).unsqueeze(1)
        w = torch.softmax(s, dim=-1)
        o = torch.bmm(w, v) * qm.unsqueeze(-1)  # (B,Tq,F)
        n = qm.sum(1, keepdim=True)
        h = torch.cat([(q * qm.unsqueeze(-1)).sum(1) / n, (o * qm.unsqueeze(-1)).sum(1) / n], 1)
        p = torch.sigmoid(self.out(torch.relu(self.dense(h)))).squeeze(-1)  # (B,)
        return p


def bce(p, y):
    """Keras 3 binary cross-entropy on probabilities: p clipped to [1e-7, 1-1e-7]."""
    p = p.clamp(1e-7, 1.0 - 1e-7)
    return -(y * torch.log(p) + (1.0 - y) * torch.log(1.0 - p)).mean()


class KerasAdam:
    """w -= lr·√(1-β2^t)/(1-β1^t) · m / (√v + ε), Keras's update (ε outside the bias correction)."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-7):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.beta1, self.beta2, self.eps, self.t = lr, beta1, beta2, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        alpha = self.lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            p.addcdiv_(m, v.sqrt().add_(self.eps), value=-alpha)

    def zero_grad(self):
        for p in self.params:
            p.grad = None


def roc_auc(y, p):
    """Exact ROC AUC from ranks (tied scores share their mean rank: a tie counts one half)."""
    y, p = np.asarray(y), np.asarray(p, dtype=np.float64)
    npos, nneg = int((y == 1).sum()), int((y == 0).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    sp = p[order]
    ranks = np.empty(len(p), dtype=np.float64)
    i = 0
    while i < len(sp):
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


@torch.no_grad()
def evaluate(model, data, batch_size):
    """-> (loss, accuracy, probabilities) over a split, in file order."""
    a, b, y = data
    model.eval()
    probs = np.empty(len(y), dtype=np.float32)
    loss = 0.0
    for s in range(0, len(y), batch_size):
        idx = list(range(s, min(s + batch_size, len(y))))
        p = model(pad_batch(a, idx), pad_batch(b, idx))
        loss += bce(p, torch.from_numpy(y[idx])).item() * len(idx)
        probs[idx] = p.numpy()
    return loss / len(y), float(((probs > 0.5) == (y == 1)).mean()), probs


def train_epoch(model, opt, data, batch_size, order, progress):
    a, b, y = data
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    nb = (len(order) + batch_size - 1) // batch_size
    for k in range(nb):
        idx = order[k * batch_size : (k + 1) * batch_size]
        target = torch.from_numpy(y[idx])
        p = model(pad_batch(a, idx), pad_batch(b, idx))
        loss = bce(p, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
        correct += int(((p.detach() > 0.5).float() == target).sum())
        seen += len(idx)
        if progress and (k + 1 == nb or k % 10 == 0):
            done = 30 * (k + 1) // nb
            sys.stderr.write("\r%d/%d [%s%s] - loss: %.4f - accuracy: %.4f" % (
                k + 1, nb, "=" * done, "." * (30 - done), loss_sum / seen, correct / seen))
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\r\033[K")
    return loss_sum / seen, correct / seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="directory with train.tsv, val.tsv, test.tsv")
    ap.add_argument("--attention", choices=("dot", "additive", "concat"), default="dot")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--learning-rate", type=float, default=0.001)
    ap.add_argument("--max-tokens", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--filters", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="OUT.json", help="write the results here")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training pairs")
    args = ap.parse_args()
    if min(args.epochs, args.batch_size, args.max_tokens, args.dim, args.filters, args.threads) < 1:
        ap.error("--epochs, --batch-size, --max-tokens, --dim, --filters and --threads must be >= 1")
    if args.max_tokens < 3:
        ap.error("--max-tokens must be >= 3 (padding, [UNK] and one token)")

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    splits = {n: read_pairs(os.path.join(args.data, n + ".tsv")) for n in ("train", "val", "test")}
    if args.limit > 0:
        splits["train"] = splits["train"][: args.limit]
    index, distinct = build_vocabulary(splits["train"], args.max_tokens)
    data = {n: encode_rows(rows, index) for n, rows in splits.items()}
    ntrain = len(data["train"][2])
    unknown = {n: 100.0 * sum(s.count(OOV) for side in d[:2] for s in side)
               / sum(len(s) for side in d[:2] for s in side) for n, d in data.items()}
    print("pairs: train %d, val %d, test %d; vocabulary %d entries; unknown tokens: "
          "val %.1f%%, test %.1f%%" % (ntrain, len(data["val"][2]), len(data["test"][2]), len(index),
                                      unknown["val"], unknown["test"]))

    model = SimilarityNet(args.max_tokens, args.dim, args.filters, args.attention)
    nparams = sum(p.numel() for p in model.parameters())
    print("PyTorch %s, %d threads, %s attention, %d parameters" % (
        torch.__version__, torch.get_num_threads(), args.attention, nparams))
    opt = KerasAdam(model.parameters(), args.learning_rate)

    history, best, best_state = [], None, None
    progress = sys.stderr.isatty()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(ntrain)
        t0 = time.perf_counter()
        loss, acc = train_epoch(model, opt, data["train"], args.batch_size, order, progress)
        seconds = time.perf_counter() - t0
        val_loss, val_acc, _ = evaluate(model, data["val"], args.batch_size)
        history.append(dict(epoch=epoch, loss=loss, accuracy=acc, val_loss=val_loss,
                            val_accuracy=val_acc, seconds=seconds))
        print("epoch %d/%d - loss: %.4f - accuracy: %.4f - val_loss: %.4f - val_accuracy: %.4f - %.1fs"
              % (epoch, args.epochs, loss, acc, val_loss, val_acc, seconds), flush=True)
        if best is None or val_loss < history[best - 1]["val_loss"]:
            best, best_state = epoch, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)

    test_loss, test_acc, probs = evaluate(model, data["test"], args.batch_size)
    test_auc = roc_auc(data["test"][2], probs)
    sec_epoch = sum(h["seconds"] for h in history) / len(history)
    print("best epoch %d (val_loss %.4f - val_accuracy %.4f)" % (
        best, history[best - 1]["val_loss"], history[best - 1]["val_accuracy"]))
    print("test: accuracy %.4f - auc %.4f - loss %.4f" % (test_acc, test_auc, test_loss))
    print("training: %.1f s per epoch, %.0f pairs per second" % (sec_epoch, ntrain / sec_epoch))

    if args.json:
        result = dict(
            framework="pytorch", torch_version=torch.__version__, python=platform.python_version(),
            data=args.data, attention=args.attention, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, max_tokens=args.max_tokens, dim=args.dim,
            filters=args.filters, seed=args.seed, threads=args.threads, limit=args.limit,
            train_pairs=ntrain, val_pairs=len(data["val"][2]), test_pairs=len(data["test"][2]),
            vocabulary=len(index), distinct_training_tokens=distinct,
            unknown_token_percent_val=unknown["val"], unknown_token_percent_test=unknown["test"],
            parameters=nparams, history=history, best_epoch=best,
            test_accuracy=test_acc, test_auc=test_auc, test_loss=test_loss,
            seconds_per_epoch=sec_epoch, pairs_per_second=ntrain / sec_epoch)
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print("wrote %s" % args.json)


if __name__ == "__main__":
    main()
