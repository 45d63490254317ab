"""Write the project's notebooks (run after editing this file: python notebooks/make_notebooks.py).

Notebooks are generated so that their code stays reviewable as Python and their
kernelspec metadata is always set (JupyterLab otherwise asks for a kernel).
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def notebook(cells: list[tuple[str, str]]) -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    nb.cells = [nbf.v4.new_markdown_cell(text) if kind == "md" else nbf.v4.new_code_cell(text)
                for kind, text in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids: regenerating changes nothing that did not
    return nb


# The reference tool's quickstart, adapted only by the import and the data source:
# the sample program stands in for MAST, a loopback-free offline run.
SPELUNKER_QUICKSTART = [
    ("md", "# FGS Spelunker quickstart, on fgs_widgets\n\n"
           "The reference tool's quickstart with `import fgs_widgets as spelunker`. MAST is "
           "replaced by the bundled sample program: `load(dir=..., pid=1534)` finds its files "
           "already downloaded in `dir` and works offline. With internet and a MAST token, the "
           "same calls query and download from MAST."),
    ("code", "import os\nimport matplotlib\nmatplotlib.use('Agg')\n"
             "import matplotlib.pyplot as plt\n"
             "import fgs_widgets as spelunker\n"
             "from fgs_widgets.archive import sample_program\n\n"
             "sample = sample_program()\nworkdir = str(sample.directory)"),
    ("md", "## Downloading data"),
    ("code", "spk = spelunker.load(dir=workdir, pid=1534)"),
    ("code", "spk2 = spelunker.load(dir=workdir, pid=1534, obs_num='2', visit='1', calib_level=2)\n"
             "spk2.download(1534, obs_num='2', visit='2', calib_level=2)"),
    ("code", "spk2.fg_array.shape, spk2.fg_time.shape, spk2.fg_flux.shape"),
    ("code", "spk2.readfile(str(sample.paths[0]))\nspk2.fg_array.shape"),
    ("md", "## Gaussian fitting"),
    ("code", "spk.fg_array = spk.fg_array[0:10000]\nspk.fg_flux = spk.fg_flux[0:10000]\n"
             "spk.fg_time = spk.fg_time[0:10000]"),
    ("code", "table_gauss_fit = spk.gauss2d_fit(ncpus=2)"),
    ("code", "spk.gaussfit_results"),
    ("md", "## Quick fitting"),
    ("code", "table_quick_fit = spk.quick_fit()"),
    ("code", "spk.quickfit_results"),
    ("md", "## Plotting parameters"),
    ("code", "fig, ax = plt.subplots(figsize=(12, 4), dpi=100)\nax = spk.timeseries_binned_plot()"),
    ("code", "ax = spk.timeseries_list_plot()"),
    ("md", "## Periodograms"),
    ("code", "ax = spk.periodogram()"),
    ("code", "freq = spk.pgram_x_mean[0]\npower = spk.pgram_x_mean[1]\nfreq[0], power[0]"),
    ("md", "## Mnemonics\n\nEngineering mnemonics need a MAST token "
           "(`spk2.mast_api_token = '...'` or `MAST_API_TOKEN`); local events do not."),
    ("code", "spk2 = spelunker.load(dir=workdir, pid=1534)\n"
             "fig, ax = plt.subplots(figsize=(12, 4), dpi=100)\n"
             "ax = spk2.mnemonics_local('GUIDESTAR')\n"
             "if os.environ.get('MAST_API_TOKEN'):\n"
             "    ax = spk2.mnemonics('SA_ZHGAUPST', spk2.fg_time[0], spk2.fg_time[-1])\n"
             "ax.plot(spk2.fg_time, spk2.fg_flux)\nplt.legend(loc=3)"),
    ("md", "## Animations"),
    ("code", "plt.plot(spk2.fg_flux[2600:3100])"),
    ("code", "spk2.flux_spatial_timelapse_animation(start=2600, stop=2640, "
             "filename=os.path.join(workdir, 'movie.gif'))"),
    ("md", "## Getting tables"),
    ("code", "spk.fg_table"),
    ("code", "spk.object_properties"),
]

# The widget story: the same steps, interactive, on one shared Session.
QUICKSTART = [
    ("md", "# FGS guide-star quickstart\n\n"
           "Every JWST observation records a guide star with the Fine Guidance Sensor: 8x8-pixel "
           "frames at 16 Hz. This notebook loads a program's fine-guide files, fits every "
           "frame, and explores the result in linked, interactive views.\n\n"
           "It runs offline on the bundled **sample program** (program 1534: two observations, "
           "a guide-star change, a segment split, high-gain-antenna moves)."),
    ("md", "## 1 · Load data\n\nWith internet, `session.open_program(1534)` queries and "
           "downloads from MAST instead (files are cached; pass `token=...` or set "
           "`MAST_API_TOKEN` for proprietary data — the token is never stored)."),
    ("code", "from fgs_widgets import App, Session\n\n"
             "session = Session()\nsession.load_sample()\nsession.data"),
    ("code", "session.data.products  # one row per file: the fg_table"),
    ("md", "## 2 · Fit every frame\n\nThe quick fit (moments) is instant; the rotated-Gaussian "
           "fit runs in the background — the progress bar in the app below follows it."),
    ("code", "session.fit_frames('quick', block=True)\nsession.fit_frames('full')"),
    ("md", "## 3 · Look\n\nThe frame viewer (left) plays frames in the browser; the series "
           "(right) share one time axis. Hover a plot for time, value and flags; click to "
           "move the cursor everywhere; scroll to zoom and drag to pan (the periodogram uses "
           "the zoomed window). Each panel's y range is the bulk of its good frames; flagged "
           "frames are the red ▲ at its foot (*show flagged*, *full range* show everything). "
           "Events (guide-star change, file boundaries, HGA moves) are under *Events*."),
    ("code", "session.add_local_events()\n"
             "app = App(session, columns=('flux', 'x_mean', 'y_mean'))\napp"),
    ("md", "## 4 · Periodograms, telemetry, tables\n\nThe same actions from code:"),
    ("code", "session.wait()  # the background fit\n"
             "# each file's mean and slope removed first (the default): the steps between\n"
             "# files and visits are no period; detrend='none' keeps them\n"
             "pgrams = session.compute_periodograms(['x_mean', 'y_mean'], detrend='linear', "
             "by='file')\n"
             "print(pgrams['x_mean'].removed)\n"
             "pgrams['x_mean'].peaks"),
    ("code", "# engineering telemetry needs a MAST token (MAST_API_TOKEN) and network access:\n"
             "# session.fetch_mnemonic('SA_ZHGAUPST')\n"
             "session.events"),
    ("code", "session.fit.describe().T[['mean', 'std', 'min', 'max']]"),
    ("md", "## 5 · Explain a science light curve\n\n"
           "What observers use guide-star data for: the systematics of their own time series. "
           "The sample folder holds a white-light curve taken during observation 1 "
           "(`science_lightcurve.dat`, BJD_TDB, as light curves are published). "
           "`load_science` puts it on the guide star's clock — MJD UTC at the observatory: "
           "TT−UTC (69.184 s) and the light-travel time to the barycentre, toward the guide "
           "star unless you pass the target's `ra`, `dec` — instead of `jd - 2400000.5`. "
           "Then every guide-star series is averaged over each integration, and the flux is "
           "fitted by a baseline plus the regressors you choose. The *Science* tab of the app "
           "shows the same, on the shared time axis."),
    ("code", "from fgs_widgets.archive import sample_program\n\n"
             "science = session.load_science(sample_program().science_path)\n"
             "print(science)\nfor note in science.notes:\n    print('·', note)"),
    ("code", "binned = session.bin_to_science()\n"
             "binned[['time', 'count', 'science_flux', 'x_mean', 'x_mean_err']].head()"),
    ("code", "result = session.decorrelate(['x_mean', 'y_mean'], polynomial=1,\n"
             "                              lags=range(-60, 61, 5))\n"
             "print(result.summary())\nresult.coefficients"),
    ("md", "The lag scan shows the clocks agree: the correlation of x_mean with the detrended "
           "flux peaks at 0 s. Read the times as UTC (the shortcut) and the peak moves by the "
           "~51 s the conversion accounts for here."),
    ("code", "best = result.lags.loc[result.lags['x_mean'].abs().idxmax()]\n"
             "print(f\"x_mean correlates best at a lag of {best['lag_s']:+.0f} s "
             "(r = {best['x_mean']:.2f})\")\n"
             "session.detect_tilts()  # tilt events: jumps in position and width, marked on "
             "every panel"),
    ("md", "## 6 · A guiding report\n\n"
           "One self-contained HTML file (opens offline, mails as one attachment) with each "
           "visit's stability statistics, the events, every observation's series and "
           "periodograms, the decorrelation above and findings in words; the *Report* button "
           "under *Tables & export* writes the same, and `fgs-widgets report 1534 -o "
           "report.html` from a terminal."),
    ("code", "path = session.report('report.html')\n"
             "print(f'{path.name}: {path.stat().st_size / 1e6:.1f} MB')"),
    ("md", "## 7 · Astropy, lightkurve, lcviz\n\n"
           "The series as an astropy `TimeSeries`: times in UTC (MJD, the observatory's clock), "
           "every column a `Quantity` with its unit, every frame (flagged ones too, with their "
           "`quality` bits). `write_table` writes FITS (units in `TUNITn`) or ECSV and "
           "`read_table` reads it back equal; the *Tables & export* tab offers FITS too."),
    ("code", "from fgs_widgets.astropy_tables import read_table, write_table\n\n"
             "series = session.to_timeseries(['flux', 'x_mean', 'y_mean'], mas=True)\n"
             "write_table(series, 'guide_star.fits')\n"
             "back = read_table('guide_star.fits')\n"
             "print(f\"{len(back):,} frames, time in {back.time.scale.upper()}, flux in "
             "{back['flux'].unit}, x_mean in {back['x_mean'].unit}, \"\n"
             "      f\"{back['x_mean_mas'].unit} at {back.meta['PLATESCL']:g} mas/px\")\n"
             "series[:3]"),
    ("md", "lightkurve (an optional extra: `pip install 'fgs-widgets[lightkurve]'`) gets any "
           "series as a `LightCurve`: its periodogram, `flatten`, BLS and river plots work on "
           "the guide star as on a star's light curve."),
    ("code", "try:\n"
             "    lc = session.to_lightkurve('x_mean')\n"
             "except ImportError as missing:  # lightkurve is not installed here\n"
             "    print(missing)\n"
             "else:\n"
             "    import astropy.units as u\n"
             "    pg = lc.remove_nans().to_periodogram(minimum_period=5 * u.s, "
             "maximum_period=200 * u.s)\n"
             "    print(f'strongest x_mean period: {pg.period_at_max_power.to(u.s):.1f}')\n"
             "    lc.write('guide_star_x_mean.ecsv', format='ascii.ecsv', overwrite=True)"),
    ("md", "**lcviz** opens that light curve in its viewers (time series, phase folding, "
           "frequency analysis). lcviz 2 (jdaviz 5) needs bqplot < 0.13 and fgs_widgets "
           "bqplot 0.13, so it lives in an environment of its own (`pip install lcviz`, and "
           "`jupyter lab` from there); the ECSV file above carries the series across:\n\n"
           "```python\n"
           "import lcviz  # first: it registers the light-curve loader\n"
           "import lightkurve\n\n"
           "lc = lightkurve.LightCurve.read('guide_star_x_mean.ecsv', format='ascii.ecsv')\n"
           "app = lcviz.gca()\n"
           "app.load(lc, format='Light Curve', data_label='FGS x_mean')\n"
           "app.show()\n"
           "```"),
]

# A survey of several programs: ray tasks write one Parquet dataset; pandas reads it.
SURVEY = [
    ("md", "# Surveying many programs\n\n"
           "`fgs_widgets.survey` runs one ray task per program: the task downloads (or reads) "
           "the program's fine-guide files where it runs, fits every frame, and writes one "
           "row of statistics per visit into the partition `program=…/observation=…` of one "
           "Parquet dataset. The head sends task descriptions only; re-running skips what is "
           "complete and retries what failed. From a terminal: `fgs-widgets survey OUT "
           "--programs 1534 2079` (or `--programs-file`, `--between 2023-01-01 2023-02-01`, "
           "`--address` for a cluster).\n\n"
           "Offline, this notebook surveys four sample programs written to disk (each a "
           "copy of the bundled sample under another program id and date, with its own "
           "noise)."),
    ("code", "from pathlib import Path\n"
             "import matplotlib\nmatplotlib.use('Agg')\n"
             "import matplotlib.pyplot as plt\n"
             "import pandas as pd\n"
             "from fgs_widgets.archive.sample import write_sample_program\n"
             "from fgs_widgets.engine.stability import STATISTICS\n"
             "from fgs_widgets import survey\n\n"
             "folder = Path('survey_programs')\n"
             "for i, program in enumerate((4001, 4002, 4003, 4004)):\n"
             "    if not (folder / str(program)).exists():\n"
             "        write_sample_program(folder / str(program), seed=program, "
             "program=program, start=59950.0 + 7 * i)\n"
             "tasks = survey.tasks_from_paths([folder])\n"
             "[(t.program, len(t), list(t.observations())) for t in tasks]"),
    ("md", "## Run it\n\nThe panel follows the survey as ray works (here a local ray on this "
           "machine's cores; pass `address=` to use a cluster)."),
    ("code", "run = survey.Survey(tasks, 'survey_dataset', fit='gaussian')\n"
             "panel = run.widget()\n"
             "display(panel)\n"
             "run.start()\n"
             "run.wait()  # the survey runs as a job: run.job has its state, rate and ETA\n"
             "print(run.message)"),
    ("md", "## What each statistic means"),
    ("code", "pd.DataFrame([(name, unit, text) for name, (unit, text) in STATISTICS.items()],\n"
             "             columns=['statistic', 'unit', 'definition']).style.hide(axis='index')"),
    ("md", "## Read the dataset with pandas"),
    ("code", "table = survey.read_survey('survey_dataset')\n"
             "table[['program', 'observation', 'visit', 'n_frames', 'stability_mas', "
             "'jitter_15s_mas', 'psf_width_px', 'n_tilts', 'n_hga_moves', "
             "'fit_failure_rate']]"),
    ("code", "fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=90)\n"
             "label = table['program'].astype(str) + '/' + table['observation'].astype(str) "
             "+ '/' + table['visit'].astype(str)\n"
             "axes[0].bar(label, table['stability_mas'])\n"
             "axes[0].set_ylabel('pointing stability (mas, 15 s windows)')\n"
             "axes[1].scatter(table['jitter_15s_mas'], table['stability_mas'], "
             "c=table['program'])\n"
             "axes[1].set_xlabel('jitter within 15 s (mas)')\n"
             "axes[1].set_ylabel('stability (mas)')\n"
             "axes[2].errorbar(table['start_mjd'], table['psf_width_px'], fmt='o')\n"
             "axes[2].set_xlabel('MJD')\naxes[2].set_ylabel('PSF width (px)')\n"
             "for ax in axes[:1]:\n    ax.tick_params(axis='x', rotation=60)\n"
             "fig.tight_layout()\nfig.savefig('survey.png')\n"
             "print('saved survey.png')"),
    ("md", "## Resuming\n\nA second run finds every partition complete and verified "
           "(checksums, inputs, settings) and does nothing; a failed program would be "
           "retried. `survey_status` lists each program's recorded state."),
    ("code", "again = survey.run_survey(tasks, 'survey_dataset', fit='gaussian')\n"
             "print(again.message)\n"
             "survey.survey_status('survey_dataset')[['program', 'state', 'runs', "
             "'n_frames', 'seconds']]"),
    ("md", "## One program's report against the survey\n\n"
           "A guiding report of program 4001 with `reference=` the dataset: each of its "
           "visits' statistics is also given as a percentile among the survey's visits. From a "
           "terminal: `fgs-widgets report survey_programs/4001 -o report_4001.html "
           "--reference survey_dataset`."),
    ("code", "from fgs_widgets import Session\n\n"
             "session = Session()\n"
             "session.read_files(folder / '4001')\n"
             "session.fit_frames('full', block=True)  # the survey's fit: the same statistics\n"
             "path = session.report('report_4001.html', reference='survey_dataset')\n"
             "print(f'{path.name}: {path.stat().st_size / 1e6:.1f} MB')"),
]

NOTEBOOKS = (("quickstart.ipynb", QUICKSTART),
             ("spelunker_quickstart.ipynb", SPELUNKER_QUICKSTART),
             ("survey.ipynb", SURVEY))

if __name__ == "__main__":
    for name, cells in NOTEBOOKS:
        nbf.write(notebook(cells), HERE / name)
        print("wrote", HERE / name)
