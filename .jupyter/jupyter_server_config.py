# Jupyter server settings for `make lab` (JUPYTER_CONFIG_PATH=.jupyter): see fervlm/lab.py.
# Saving (and Lab's autosave) writes the tracked notebooks in notebooks/ without outputs, so running a
# notebook never modifies the repository; executed copies belong in outputs/ (`fervlm sweep`).
c = get_config()  # noqa: F821 (provided by Jupyter when it loads this file)
c.ContentsManager.pre_save_hook = "fervlm.lab.strip_outputs_hook"
