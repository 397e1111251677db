"""Source of notebook 07: external evaluation (the trained bundle over a labelled folder it never saw).

Not part of `make reproduce`: run it with `make evaluate-external EXTERNAL=<folder>`."""


NOTEBOOK = "07_external_evaluation.ipynb"

PARAMS = '''
# Parameters (papermill): make evaluate-external EXTERNAL=<folder> [DATASET=...] [MODELS=<models dir>] [NAME=...]
dataset = "dfd-default"  # the bundle's dataset: reports go to reports/<dataset>/external/<name>/
external = ""            # the labelled folder (real/ and fake/ folders, or a manifest.csv with path,label,source)
models = ""              # folder with bundle.json and the .h5 members; empty: models/<dataset>
name = ""                # report name; empty: the folder's name
frames = 32              # frames sampled per video, as `dfd scan` and the app
n_boot = 1000            # bootstrap resamples for the 95% intervals
limit = 0                # > 0: at most this many files per kind, label and source (a quick look)
seed = 0
smoke = 0                # 1: a few files of the embedded dataset, no bootstrap (nbval / CI); env DFD_SMOKE 1 too
'''

CELLS = [
    '''#md
# 07 · External evaluation

An analyst's file was never in any training set. This notebook runs the trained bundle **through the same engine
the app and `dfd scan` use** (`dfd.inference.Detector.analyze`) over a labelled folder of images and videos that
no project dataset trains on, such as `../shared/datasets/crossdomain_dev` (FaceForensics++ c23 videos; real
UTKFace photos against thispersondoesnotexist and Stable Diffusion portraits).

* Labels come from a `manifest.csv` at the folder root (`path,label,source`, which also groups the results), or
  else from a `real` / `fake` folder anywhere in a file's path.
* Images and videos are reported apart, pooled and per source: ROC-AUC with a bootstrap 95% interval, AP, log
  loss, ECE, the share of real files called fake, the shares of each verdict, seconds per file. A fake source is
  scored **against the real files of the same kind** (FF++ fakes against FF++ reals; generated portraits against
  the real photos). Files with no face or an error have no score: counted, left out of the score metrics.
* Every file's result is cached in `results.jsonl` beside the report (keyed by path, size, modification time and
  the bundle's member ids), so an interrupted run resumes.

Outputs: `reports/<dataset>/external/<name>/{metrics.json, results.md, per_file.csv, figures/}`.
''',
    '''
import os
from pathlib import Path

from IPython.display import Image, Markdown, display

from dfd.external import evaluate_external
from dfd.paths import data_dir

smoke = str(smoke).strip().lower() in ("1", "true", "yes") or os.environ.get("DFD_SMOKE", "0") == "1"
if not external:
    if not smoke:
        raise ValueError("external=<labelled folder> is required (make evaluate-external EXTERNAL=<folder>)")
    external = data_dir("dfd-default") / "source"  # smoke: the embedded dataset notebook 01 built
    if not (external / "manifest.csv").is_file():
        raise FileNotFoundError(f"{external} has no manifest.csv: run notebook 01 first")
if smoke:
    limit, n_boot, frames = int(limit) or 2, 0, min(int(frames), 4)
print(f"external folder {external}, bundle {models or 'models/' + dataset}, {frames} frames per video, "
      f"limit {limit or 'none'}, smoke={smoke}")
''',
    '''#md
## Run the bundle over the folder

Files already in the cache are not analysed again; the progress bar counts the others.
''',
    '''
report = evaluate_external(external, models=models or None, dataset=dataset, name=name or None, frames=int(frames),
                           n_boot=int(n_boot), seed=int(seed), limit=int(limit))
s = report.summary
print(f"{s['n_files']} labelled files ({s['origin']}): {s['analysed_now']} analysed now, {s['from_cache']} from the "
      f"cache; {s['wall_seconds']:.0f} s wall time; missing on disk {len(s['missing'])}, unlabelled "
      f"{len(s['unlabelled'])}")
print("report:", report.out_dir)
''',
    '''#md
## Results per kind and source

`files real/fake` are the group's own files; `scored real/fake` the files its score metrics use (for a source,
its own scored files and the scored files of the other class of the same kind).
''',
    '''
display(Markdown(report.files["results"].read_text(encoding="utf-8")))
''',
    '''#md
## Figures

ROC per fake source (against the real files of its kind), score histograms by label and source (grey: the
bundle's uncertain band, dashed: its threshold), reliability diagram of the pooled scores.
''',
    '''
for path in report.figures:
    display(Markdown(f"`{path.name}`"))
    display(Image(filename=str(path)))
''',
    '''#md
## Per file

`per_file.csv` holds every file's verdict, P(fake), each member's score, faces found, seconds and error.
''',
    '''
per_file = report.table[["rel", "kind", "label", "source", "verdict", "p_fake", "n_faces", "seconds", "error"]]
worst = per_file[per_file.p_fake.notna()].assign(miss=lambda d: (d.p_fake - d.label).abs())
display(worst.sort_values("miss", ascending=False).head(15))
''',
]


def notebooks():
    return {NOTEBOOK: (CELLS, PARAMS)}
