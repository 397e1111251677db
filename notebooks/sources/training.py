"""Source of notebooks 02-04: one training notebook per detector family, same structure."""


FAMILIES = {
    "02_train_cnn": ("cnn", "CNN", "a convolutional network for local blending and texture artifacts; the plain "
                     "`cnn` unless the dataset's recipe names another architecture (on faces140k the `multistream` "
                     "model: the same trunk plus residual co-occurrence, k-means dictionary and DCTR streams)"),
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
image_size = 0          # 0: the recipe's (dfd/training/recipes/<dataset>.json, else defaults.json)
epochs = 0              # 0: the recipe's
batch_size = 0          # 0: the recipe's
learning_rate = 0       # 0: the recipe's
seed = 0
smoke = 0               # 1: two epochs on the smoke manifest (nbval, CI); env DFD_SMOKE 1 also turns it on
'''


def cells(model: str, title: str, idea: str) -> list[str]:
    return [
        f'''#md
# {title} · training

The **{title}** detector: {idea}. Trained from scratch (no pretrained weights can be downloaded here) on the
manifest written by notebook 01, with on-the-fly augmentation (flips, small affine, colour jitter, blur, JPEG
re-compression), early stopping on validation ROC-AUC and the best weights kept. Every setting of the run (input
size, epochs, batch size, augmentation, the architecture and its options) comes from the dataset's recipe,
`dfd/training/recipes/<dataset>.json` (why each value: `docs/experiments.md`), unless a parameter below sets it.
The model is saved as `models/<dataset>/{model}.h5` with its model card, plus validation/test predictions for
notebook 05.
''',
        '''
import json
import matplotlib
import pandas as pd
from IPython.display import Markdown, display

from dfd.metrics import summarize_table
from dfd.models import build_model, model_config
from dfd.evaluation.plots import plot_confusion_matrix, plot_roc_curves
from dfd.data.sources import is_smoke
from dfd.evaluation.report import save_figure, update_metrics
from dfd.training.recipe import apply_recipe, load_recipe, options_beyond_defaults
from dfd.training.train import TrainConfig, train, training_device

smoke = is_smoke(smoke)
# every setting left at 0 comes from the dataset's recipe for this model
recipe = apply_recipe(TrainConfig(model=model_name, dataset=dataset, input_size=image_size, epochs=epochs,
                                  batch_size=batch_size, learning_rate=learning_rate, seed=seed, smoke=smoke))
config = model_config(recipe.architecture)
size = recipe.input_size
tuned = options_beyond_defaults(recipe.architecture, recipe.options)
display(Markdown(f"**{model_name}** is a **{recipe.architecture}** (family `{config['model']}`) — "
                 f"{config['description']}  \\nInput {size}px, {recipe.epochs} epochs, batch {recipe.batch_size}, "
                 f"device: {training_device()}  \\nRecipe: `{load_recipe(dataset, model_name)['source']}`"
                 + (f"  \\nOptions beyond the architecture's defaults: `{tuned}`" if tuned else "")))
''',
        '''
build_model(recipe.architecture, input_size=size, **recipe.options).summary(line_length=100)
''',
        '''
result = train(recipe)
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
if "stream_roc_auc" in training:  # a multistream model: what each stream's logit is worth alone
    display(Markdown("ROC-AUC of each stream's logit alone, of the streams without the trunk, and of all:"),
            pd.DataFrame(training["stream_roc_auc"]).T)
''',
        '''
update_metrics(dataset, f"train_{model_name}", {
    "model_path": str(result.model_path),
    "architecture": result.card["architecture"],
    "family": result.card["family"],
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



def notebooks() -> dict:
    return {f"{stem}.ipynb": (cells(model, title, idea), params(model)) for stem, (model, title, idea) in FAMILIES.items()}
