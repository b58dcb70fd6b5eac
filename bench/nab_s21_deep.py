"""Session 21 scratch: a small cnn_ae trained in-process on NAB (no labels), its scores cached per file.

Trains on windows of 64 rows (stride 4, 2 epochs, Adam 1e-3, batch 256, window scaling), fits the calibration on
the training errors, saves the artifacts to /tmp/nab_s21_cnn_ae (for bench/deep_nab_bench.py --model), scores
every file with AutoencoderDetector (fresh state per file) and stores the calibrated scores in
/tmp/nab_s21_deep.npz for bench/nab_s21_search.py (mode ``deep``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lakewatch.deep.calibration import fit_calibration
from lakewatch.deep.detector import AutoencoderDetector
from lakewatch.deep.models import ModelSpec, build_model, window_errors
from lakewatch.deep.windows import fit_scaler_numpy, sliding_windows
from lakewatch.evaluation.corpus import NabCorpus

torch.manual_seed(0)
torch.set_num_threads(1)
series = NabCorpus.at("/work/shared/nab").series()
spec = ModelSpec("cnn_ae", 64, 1, 8, 16)
scaler = fit_scaler_numpy("window", np.concatenate([np.asarray(s.values, dtype=float) for s in series]))
x = np.concatenate([scaler.transform(sliding_windows(np.asarray(s.values, dtype=float), 64, 4)) for s in series])
print("windows", x.shape, flush=True)
model = build_model(spec)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
t0 = time.perf_counter()
xt = torch.as_tensor(x, dtype=torch.float32)
for epoch in range(2):
    perm = torch.randperm(len(xt))
    total = 0.0
    for start in range(0, len(xt), 256):
        batch = xt[perm[start:start + 256]]
        loss = model.training_loss(batch, 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(batch)
    print(f"epoch {epoch} loss {total / len(xt):.4f} {time.perf_counter() - t0:.0f}s", flush=True)
calibration = fit_calibration(window_errors(model, x[::4]))
det = AutoencoderDetector(spec, model.state_dict(), scaler, calibration)
det.save_artifacts("/tmp/nab_s21_cnn_ae")  # for bench/deep_nab_bench.py --model /tmp/nab_s21_cnn_ae
out = {}
for i, s in enumerate(series):
    out[f"deep/{i}"] = det.score_series(np.asarray(s.values, dtype=float), s.timestamps)[:, None]
print(f"scored in {time.perf_counter() - t0:.0f}s", flush=True)
np.savez("/tmp/nab_s21_deep.npz", **out)
