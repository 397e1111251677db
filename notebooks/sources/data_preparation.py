"""Source of notebook 01: data preparation (adapters, face stage, splits, manifest)."""


PARAMS = '''
# Parameters (papermill). Empty data_root = the embedded dfd-default dataset (built if missing).
dataset = "dfd-default"
data_root = ""
image_size = 0          # 0: the dataset default crop size (128; 256 for prealigned faces140k)
seed = 0
smoke = 0               # 1: a few dozen files only (nbval / CI); env DFD_SMOKE 1 also turns it on
limit = 0               # above 0: at most this many source files (stratified)
'''

CELLS = [
    '''#md
# 01 · Data preparation

Turns a dataset into aligned face crops and a manifest the training notebooks read.

* **Adapters** give every source file a label (1 = fake), a *group* (identity or source video) and a split;
  splits are group-disjoint, so no identity leaks from train to test.
* **Face stage**: MTCNN detection → main face → 5-landmark similarity alignment → crop with margin → resize,
  cached by file hash and parameters. Files without a usable face are recorded with the reason, never fatal.
  Prealigned datasets (140k Real and Fake Faces) are used as they are, keeping the generator's pixel traces.
''',
    '''
import matplotlib
import pandas as pd
from IPython.display import Markdown, display

from dfd.data.datasets import get_adapter
from dfd.data.prepare import prepare_dataset, summarize
from dfd.paths import data_dir
from dfd.data.sources import is_smoke, resolve_data_root
from dfd.evaluation.report import crop_grid, save_figure, update_metrics

smoke = is_smoke(smoke)
root = resolve_data_root(dataset, data_root, smoke=smoke, seed=seed)
adapter = get_adapter(dataset)
print(f"dataset {dataset!r} from {root} (face mode: {adapter.face_mode}); smoke={smoke}")
''',
    '''
prepared = prepare_dataset(dataset, root, image_size=image_size or None, seed=seed,
                           limit=(limit or (36 if smoke else None)))
print("manifest:", prepared.manifest_path)
''',
    '''#md
## Counts

Source files per split and label as the adapter sees them, then the usable face crops.
''',
    '''
items = pd.DataFrame([it.to_dict() for it in prepared.items])
source_counts = items.pivot_table(index="split", columns="label", values="path", aggfunc="count", fill_value=0)
source_counts.columns = [{0: "real", 1: "fake"}[c] for c in source_counts.columns]
display(Markdown("**Source files**"), source_counts)
crop_counts = prepared.counts()
display(Markdown("**Face crops**"), crop_counts)
by_method = prepared.manifest.pivot_table(index="method", columns="split", values="path", aggfunc="count", fill_value=0)
display(Markdown("**Crops per manipulation method**"), by_method)
''',
    '''
# every source file is accounted for: crops + skipped = files seen
summary = summarize(prepared)
assert summary["files"] == items.path.nunique()
display(Markdown(f"**Face-detection yield**: {summary['faces_ok']} crops from {summary['files']} files "
                 f"({summary['yield']:.1%}); no face: {summary['no_face']}, unreadable: {summary['errors']}"))
skipped = prepared.report[prepared.report.status != "ok"]
display(skipped.groupby(["status", "reason"]).size().rename("files").to_frame() if len(skipped) else Markdown("No file skipped."))
''',
    '''
matplotlib.rcParams["figure.max_open_warning"] = 0
fig = crop_grid(prepared.manifest, n_per_class=8, seed=seed, title=f"{dataset}: real vs fake crops")
save_figure(fig, dataset, "01_crop_grid.png")
''',
    '''
update_metrics(dataset, "data", {
    "source_root": str(root),
    "image_size": int(image_size or adapter.image_size),
    "smoke": bool(smoke),
    "source_files": {s: {"real": int(source_counts.loc[s].get("real", 0)), "fake": int(source_counts.loc[s].get("fake", 0))}
                     for s in source_counts.index},
    "crops": {s: {c: int(crop_counts.loc[s, c]) for c in crop_counts.columns} for s in crop_counts.index},
    "face_stage": summary,
})
print("wrote", data_dir(dataset) / "manifest.csv")
''',
]



def notebooks() -> dict:
    return {"01_data_preparation.ipynb": (CELLS, PARAMS)}
