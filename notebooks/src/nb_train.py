"""Writes notebooks 02-04: one training notebook per detector family, same structure."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from nbtools import write_notebook  # noqa: E402

FAMILIES = {
    "02_train_cnn": ("cnn", "CNN", "a plain convolutional network: local blending and texture artifacts"),
    "03_train_cnn_lstm": ("cnn_lstm", "CNN-LSTM", "a CNN whose feature map is read row by row by an LSTM: "
                          "structural breaks across the face"),
    "04_train_resnext": ("resnext", "ResNeXt", "aggregated residual transformations (cardinality 8) "
                         "in a CPU-fast grouped-convolution form"),
}


def params(model: str) -> str:
    return f'''
# Parameters (papermill)
dataset = "dfd-default"
data_root = ""          # unused here; kept so `make reproduce` can pass the same parameters to every notebook
model_name = "{model}"
image_size = 0          # 0: the dataset preset, else the model default
epochs = 0              # 0: the dataset preset's, else 40
batch_size = 32
learning_rate = 2e-3
seed = 0
smoke = 0               # 1: two epochs on the smoke manifest (nbval, CI); env DFD_SMOKE 1 also turns it on
'''


def cells(model: str, title: str, idea: str) -> list[str]:
    return [
        f'''#md
# {title} · training

The **{title}** detector: {idea}. Trained from scratch (no pretrained weights can be downloaded here) on the
manifest written by notebook 01, with on-the-fly augmentation (flips, small affine, colour jitter, blur, JPEG
re-compression at quality 40-100), early stopping on validation ROC-AUC and the best weights kept. The model is
saved as `models/<dataset>/{model}.h5` with its model card, plus validation/test predictions for notebook 05.
''',
        '''
import json
import matplotlib
from IPython.display import Markdown, display

from dfd.evaluation.metrics import summarize_table
from dfd.models import build_model, model_config
from dfd.evaluation.plots import plot_confusion_matrix, plot_roc_curves
from dfd.evaluation.report import is_smoke, save_figure, update_metrics
from dfd.training.train import TrainConfig, apply_dataset_preset, train, training_device

smoke = is_smoke(smoke)
config = model_config(model_name)
# image_size 0: the dataset's measured preset if it has one, else the model's default
preset = apply_dataset_preset(TrainConfig(model=model_name, dataset=dataset))
size = int(image_size or preset.input_size or config["input_size"])
overrides = preset.overrides  # the dataset's measured hyper-parameters for this model, if any
display(Markdown(f"**{model_name}** — {config['description']}  \\nInput {size}px, device: {training_device()}"
                 + (f"  \\nDataset preset options: `{overrides}`" if overrides else "")))
''',
        '''
build_model(model_name, input_size=size, **overrides).summary(line_length=100)
''',
        '''
result = train(TrainConfig(model=model_name, dataset=dataset, input_size=size, epochs=epochs,
                           batch_size=batch_size, learning_rate=learning_rate, seed=seed, smoke=smoke))
''',
        '''#md
## Training curves
''',
        '''
import matplotlib.pyplot as plt

hist = result.history
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for ax, key in zip(axes, ("loss", "auc")):
    ax.plot(hist.index + 1, hist[key], label="train")
    ax.plot(hist.index + 1, hist[f"val_{key}"], label="validation")
    ax.set_xlabel("epoch"); ax.set_title(key); ax.legend()
axes[0].set_yscale("log")
fig.tight_layout()
save_figure(fig, dataset, f"{model_name}_training_curves.png")
''',
        '''#md
## Test metrics

Bootstrap 95% intervals in brackets. The threshold here is 0.5 on the raw (uncalibrated) score; notebook 05
calibrates and picks the operating point.
''',
        '''
display(summarize_table({f"{model_name} (valid)": result.valid_metrics, f"{model_name} (test)": result.test_metrics}))
test = result.predictions[result.predictions.split == "test"]
fig = plot_confusion_matrix(test.label.to_numpy(), test.p_fake.to_numpy(), threshold=0.5)
save_figure(fig, dataset, f"{model_name}_confusion.png")
fig = plot_roc_curves({model_name: (test.label.to_numpy(), test.p_fake.to_numpy())})
save_figure(fig, dataset, f"{model_name}_roc.png")
training = result.card["training"]
display(Markdown(f"Trained **{training['epochs_run']} epochs** (best: {training['best_epoch']}) in "
                 f"**{result.seconds / 60:.1f} min** on {result.device}; {result.card['params']:,} parameters."))
''',
        '''
update_metrics(dataset, f"train_{model_name}", {
    "model_path": str(result.model_path),
    "input_size": size,
    "params": result.card["params"],
    "seconds": round(result.seconds, 1),
    "device": result.device,
    "epochs_run": result.card["training"]["epochs_run"],
    "best_epoch": result.card["training"]["best_epoch"],
    "valid": result.valid_metrics,
    "test": result.test_metrics,
})
print(json.dumps({k: round(v["value"], 4) for k, v in result.test_metrics.items() if v["value"] is not None}, indent=1))
''',
    ]


if __name__ == "__main__":
    here = Path(__file__).resolve().parents[1]
    for stem, (model, title, idea) in FAMILIES.items():
        write_notebook(here / f"{stem}.ipynb", cells(model, title, idea), params(model))
