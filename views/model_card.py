"""Model card: how the loaded model was made, its training curve, and its evaluation against the
seed code's configuration and the project's targets."""
from pathlib import Path

import streamlit as st

from explorer import plots
from explorer.assets import SHIPPED_MODELS, source_model
from training.evaluation import catalogue
from training.sampling import DEFAULT_NOISE
from views import cached, keys, linking, shared_mode, state, url_path

REFERENCE_REPORT = "reports/benchmark.md"
URL_PATH = url_path(__file__)
PARAMS = []   # the card of the model the sidebar loaded: nothing else to link


def evaluation_card(b):
    st.subheader("Evaluation")
    m = shared_mode.shown_paths(b.metrics, b.directory, b.folder)
    if not m:
        where = shared_mode.shown_path(b.directory)
        st.info(f"No evaluation yet. `python -m training evaluate --checkpoint {where}` measures this model "
                "(about 10 minutes on 2 cores) and writes metrics.json, shown here.")
        return
    if b.current_metrics is None:
        st.warning("metrics.json was measured on different weights than this model's; re-run the evaluation.")
    if m.get("quick"):
        st.warning("This is a --quick evaluation on small subsets: the numbers are noisy.")
    reference, ref_name = cached.load_reference()
    st.caption(f"Measured by `{m.get('command') or 'python -m training evaluate'}`: "
               f"{catalogue.evaluation_time(m)}. The reference column is the {ref_name} configuration "
               "(the published loss and learning rate), trained and evaluated the same way "
               f"({REFERENCE_REPORT}); ✓ / ✗ beside a value: better / worse than it. Targets are the bars "
               "this project set for its shipped model; docs/evaluation.md says why one is missed.")
    shaped_by = catalogue.perceptual_classifier(b.meta)
    if shaped_by:
        st.info(f"This decoder was trained with a perceptual term in the features of the classifier in "
                f"`{shaped_by}`, the one that judges the generated images below: its verdicts on this model "
                "are not independent. The independent classifier's table further down is the evidence.",
                icon=":material/balance:")
    for title, group in catalogue.GROUPS:
        rows = ["| | this model | seed-code | target | what it measures |", "|---|---:|---:|---|---|"]
        for metric in group:
            value, ref = catalogue.lookup(m, metric.key), catalogue.lookup(reference, metric.key)
            verdict = catalogue.compare(value, ref, metric.better)
            mark = {"better": " ✓", "worse": " ✗"}.get(verdict, "")
            hint = f" ({metric.better} is better)" if metric.better else ""
            rows.append(f"| {metric.label} | **{catalogue.formatted(m, metric)}**{mark} | "
                        f"{catalogue.formatted(reference, metric)} | "
                        f"{catalogue.target_cell(m, reference, metric, ref_name)} | "
                        f"{metric.explanation.replace('|', '&#124;')}{hint} |")
        st.markdown(f"**{title}**\n\n" + "\n".join(rows))
    per = m.get("category_agreement_per_category")
    if per:
        st.markdown("**Per category: how often the classifier recognises it**, in samples of both samplers "
                    f"(noise {m.get('category_sampler', {}).get('noise')}), in reconstructions and in the "
                    "real test images")
        st.markdown(catalogue.per_category_table(m))
    independent = catalogue.independent_judge_table(m)
    if independent:
        judge = m["independent_judge"]
        st.markdown(f"**Judged by the independent classifier** ({judge.get('architecture')} architecture, "
                    f"seed {judge.get('seed')}, trained on real images only; "
                    f"`{Path(judge['classifier']).name}`): "
                    "the same images and draws as above, by a judge that no method here uses in training "
                    "or sampling\n\n" + independent)
        targets = catalogue.independent_targets(m)
        if targets:
            st.markdown("Issue 47's targets, by this judge:\n" + "".join(f"\n- {t}" for t in targets))
    source = source_model(b.meta, shared_mode.pickable_models())
    if source:
        name, directory, before = source
        shaped = catalogue.perceptual_classifier(b.meta) is not None
        opened = f" ([open it in Compare](compare?with={directory.name}))" if name in SHIPPED_MODELS else ""
        st.markdown(f"**Against the model its decoder was fine-tuned from**: {name}, "
                    f"`{shared_mode.shown_path(directory)}`{opened}. The encoder, and so every latent, map "
                    "and probe, is the same; what changed is the decoder.\n\n"
                    + catalogue.change_table(b.metrics, before, shaped))
    by_noise = catalogue.agreement_by_noise(m)
    if by_noise:
        st.markdown("**How recognisable samples around the mean stay as the noise grows** (the paper's "
                    "sampler and the same judge; at noise 0 every sample is the decoded mean)")
        st.plotly_chart(plots.agreement_by_noise(by_noise, DEFAULT_NOISE), key=keys.AGREEMENT_BY_NOISE_CHART)
    with st.expander("metrics.json"):
        st.json(m, expanded=False)


def model_card(b):
    m = shared_mode.shown_paths(b.meta, b.directory, b.folder)
    test = m.get("metrics", {})
    st.markdown(f"**Model directory** `{shared_mode.shown_path(b.directory)}` · "
                f"{m.get('parameters', 0):,} parameters · latent dimension {b.latent_dim}")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Test −ELBO (nats/image)", f"{test.get('neg_elbo', float('nan')):.1f}")
    c2.metric("Reconstruction NLL", f"{test.get('recon_nll', float('nan')):.1f}")
    c3.metric("KL (nats/image)", f"{test.get('kl', float('nan')):.1f}")
    c4.metric("Reconstruction MSE", f"{test.get('recon_mse', float('nan')):.4f}")
    t = m.get("training", {})
    threads = f" on {catalogue.plural(t['threads'], 'CPU thread')}" if t.get("threads") else ""
    st.markdown(f"Likelihood **{m.get('likelihood')}**, β = {m.get('beta')}, {m.get('epoch')} epochs, batch "
                f"{t.get('batch_size')}, learning rate {t.get('lr')} ({t.get('schedule')}), seed "
                f"{t.get('seed')}, trained in {m.get('train_seconds', 0) / 60:.1f} min{threads}. Encoder "
                f"head: {b.model.config.encoder_summary()}. Decoder: "
                f"{b.model.config.decoder_summary()}; {b.model.config.view_summary()}.")
    ft = m.get("decoder_finetune")
    if ft:
        st.markdown(f"Decoder then fine-tuned: {catalogue.finetune_summary(m)}, "
                    f"{catalogue.finetune_seconds(m) / 60:.1f} min. The latent codes, maps and probes are "
                    "the trained encoder's; the decoder draws sharper images at some cost in reconstruction "
                    "error.")
    exported = m.get("exported_from")
    if m.get("weights_dtype", "float32") != "float32":
        st.markdown(f"Weights stored as **{m['weights_dtype']}** (half the size; loading checks the type and "
                    "computes in float32)" + (f", exported with `{exported['command']}`" if exported and
                                              exported.get("command") else "") + ". Its maps and evaluation "
                    "were made from these stored weights.")
    st.markdown("Trained with:")
    # plain: bash colouring splits "4,3,4,2"
    st.code("\n".join(catalogue.training_commands(m)), language=None, wrap_lines=True)
    if b.history:
        st.plotly_chart(plots.training_curve(b.history, b.finetune_history), key=keys.HISTORY_CHART)
    evaluation_card(b)
    with st.expander("model.json and embeddings.json"):
        st.json(m, expanded=False)
        st.json(shared_mode.shown_paths(b.info, b.directory, b.folder), expanded=False)


def main():
    b = state.bundle()
    linking.follow_link(URL_PATH, PARAMS, b)
    linking.publish(PARAMS, b)
    model_card(b)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
