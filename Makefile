# Set-up lives here: `make serve` runs the server on the shipped models, `make test` runs the tests.
# Both build what they need first (system packages where missing, the virtual environment).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Text-to-speech engines (training data and tests), PortAudio (microphone client); Prometheus with promtool,
# nginx and docker-compose (the tests of the deployment's configuration under deploy/); the Docker engine and
# debootstrap (tests/deploy/test_container.py builds the image on a base image it makes, and runs it;
# tests/deploy/test_compose.py brings up docker-compose.yml's scale profile); openssl (`make certs`).
SYSTEM_PACKAGES := espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts libportaudio2 sox \
	prometheus nginx docker-compose docker.io debootstrap openssl

.PHONY: serve test check lint format system venv dev stubs reports reports-keywords reports-transcription \
	reports-phrases reports-commands reports-bench certs study

serve: venv
	$(BIN)/rnnvoice serve

# The whole suite, lint first: what CI runs.
test: system dev lint
	$(BIN)/python -m pytest

# The fast loop while developing: every test not marked slow or docker (under 2 minutes).
check: dev
	$(BIN)/python -m pytest -q -m "not slow and not docker"

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Installs missing Debian packages (needs root, as on CI); skipped when all are present.
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

venv: $(BIN)/python
	$(BIN)/pip install -q -e .

dev: $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"

# A development CA and a certificate for the deployment's TLS (the names rnnvoice, lb and localhost) in deploy/tls/;
# clients trust ca.pem. The key is world-readable so that the containers' own users can read it: for development.
TLS_DIR ?= deploy/tls
certs:
	mkdir -p $(TLS_DIR)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj "/CN=rnnvoice development CA" \
		-keyout $(TLS_DIR)/ca.key -out $(TLS_DIR)/ca.pem 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=rnnvoice" \
		-addext "subjectAltName=DNS:rnnvoice,DNS:lb,DNS:localhost,IP:127.0.0.1" \
		-keyout $(TLS_DIR)/server.key -out $(TLS_DIR)/server.csr 2>/dev/null
	openssl x509 -req -in $(TLS_DIR)/server.csr -CA $(TLS_DIR)/ca.pem -CAkey $(TLS_DIR)/ca.key -CAcreateserial \
		-copy_extensions copy -days 365 -out $(TLS_DIR)/server.pem 2>/dev/null
	chmod 644 $(TLS_DIR)/server.key
	rm $(TLS_DIR)/server.csr

# Regenerates the gRPC stubs from protos/ (tests check they are in sync).
stubs: dev
	$(BIN)/python -m rnnvoice.protos.generate

# The README's figures, from one run on one machine: both cells, every held-out set, the benchmark.
# Needs the corpora of docs/training.md in data/kws and data/asr.
SC12 := yes,no,up,down,left,right,on,off,stop,go
DIGITS := zero,one,two,three,four,five,six,seven,eight,nine
# Speech levels (dBFS RMS) the keyword models are measured at: a far, quiet microphone to a near, loud one.
LEVELS := -50 -45 -40 -30 -20
# Keywords chosen at run time, said by real people and trained on by nothing: Wildfire and Voyager in the WUW test
# calls, four Speech Commands words; three other WUW wake-up words, on the development calls, to choose the threshold.
SHARED ?= ../shared/data
PHRASES := wildfire,voyager
DEV_PHRASES := operator,think engine,on word
SC_PHRASES := marvin,sheila,happy,house
PHRASE_EVAL := eval --data $(SHARED)/speech_commands --noise $(SHARED)/noise
# Each part can run alone: `make reports-keywords` after new keyword models, and so on.
reports: reports-keywords reports-transcription reports-phrases reports-commands reports-bench
	$(BIN)/rnnvoice compare reports

reports-keywords: dev
	for cell in gru lstm; do \
	  $(BIN)/rnnvoice eval --cell $$cell --data data/kws --source speech_commands --labels $(SC12) --json reports/keywords/$${cell}_speech_commands_12.json && \
	  $(BIN)/rnnvoice eval --cell $$cell --data data/kws --source fsdd --labels $(DIGITS) --json reports/keywords/$${cell}_fsdd_digits.json && \
	  $(BIN)/rnnvoice eval --cell $$cell --data data/kws --source speech_commands --stream --labels $(SC12) --json reports/keywords/$${cell}_stream_speech_commands.json && \
	  $(BIN)/rnnvoice eval --cell $$cell --data data/kws --source fsdd --stream --labels $(DIGITS) --json reports/keywords/$${cell}_stream_fsdd.json && \
	  $(BIN)/rnnvoice eval --cell $$cell --data $(SHARED)/wuw_corpus_ii --calls dev --json reports/keywords/$${cell}_real_talk_dev_calls.json && \
	  for level in $(LEVELS); do \
	    $(BIN)/rnnvoice eval --cell $$cell --data data/kws --source speech_commands --labels $(SC12) --level-dbfs $$level --json reports/levels/$${cell}_speech_commands_12_at_$${level#-}dbfs.json && \
	    $(BIN)/rnnvoice eval --cell $$cell --data data/kws --source fsdd --labels $(DIGITS) --level-dbfs $$level --json reports/levels/$${cell}_fsdd_digits_at_$${level#-}dbfs.json || exit 1; \
	  done || exit 1; \
	done

# The recognisers (on the speech embedding), then the log-mel recognisers of before beside them; WUW Corpus II's test
# calls (free telephone speech) decoded greedily, as the beam search knows the command domain's words only; Whisper
# base, the peer, on the same calls.
LOG_MEL_ASR = models/weights/transcription_$${cell}_log_mels.pt
reports-transcription: dev
	for cell in gru lstm; do \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --data data/asr/heldout/tts --json reports/transcription/$${cell}_heldout_voices.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --data data/asr/heldout/fsdd --json reports/transcription/$${cell}_fsdd_digit_strings.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --data data/asr/heldout/speech_commands --json reports/transcription/$${cell}_speech_commands_words.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --data data/asr/heldout/speech_commands_digits --json reports/transcription/$${cell}_speech_commands_digit_strings.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --decoder greedy --data data/asr/heldout/wuw_test --json reports/transcription/$${cell}_wuw_test_calls.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --model $(LOG_MEL_ASR) --data data/asr/heldout/tts --json reports/transcription/$${cell}_log_mels_heldout_voices.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --model $(LOG_MEL_ASR) --decoder greedy --data data/asr/heldout/tts --json reports/transcription/$${cell}_log_mels_heldout_voices_greedy.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --model $(LOG_MEL_ASR) --data data/asr/heldout/fsdd --json reports/transcription/$${cell}_log_mels_fsdd_digit_strings.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --model $(LOG_MEL_ASR) --data data/asr/heldout/speech_commands --json reports/transcription/$${cell}_log_mels_speech_commands_words.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --model $(LOG_MEL_ASR) --data data/asr/heldout/speech_commands_digits --json reports/transcription/$${cell}_log_mels_speech_commands_digit_strings.json && \
	  $(BIN)/rnnvoice eval --task transcription --cell $$cell --model $(LOG_MEL_ASR) --decoder greedy --data data/asr/heldout/wuw_test --json reports/transcription/$${cell}_log_mels_wuw_test_calls.json \
	  || exit 1; \
	done
	$(BIN)/rnnvoice eval --task transcription --peer --data data/asr/heldout/wuw_test --json reports/transcription/whisper_base_wuw_test_calls.json

reports-phrases: dev
	$(BIN)/rnnvoice eval --data $(SHARED)/wuw_corpus_ii --calls dev --phrases "$(DEV_PHRASES)" --json reports/phrases/wuw_dev_calls.json
	$(BIN)/rnnvoice eval --data $(SHARED)/wuw_corpus_ii --calls test --phrases $(PHRASES) --json reports/phrases/wuw_test_calls.json
	$(BIN)/rnnvoice $(PHRASE_EVAL) --phrases $(SC_PHRASES) --json reports/phrases/speech_commands_heldout_speakers.json
	$(BIN)/rnnvoice $(PHRASE_EVAL) --phrases $(SC_PHRASES) --speakers all --json reports/phrases/speech_commands_all_speakers.json

# Spoken commands read within a context (reports/commands/*.yml) by real held-out speakers.
reports-commands: dev
	for cell in gru lstm; do \
	  $(BIN)/rnnvoice eval --task assistant --cell $$cell --context reports/commands/speech_commands.yml --data $(SHARED)/speech_commands --json reports/commands/$${cell}_speech_commands_heldout_speakers.json && \
	  $(BIN)/rnnvoice eval --task assistant --cell $$cell --context reports/commands/digits.yml --data $(SHARED)/fsdd --json reports/commands/$${cell}_fsdd_heldout_speaker.json \
	  || exit 1; \
	done

# The shipped models, then the log-mel keyword models beside them (the other front end the server ships).
reports-bench: dev
	$(BIN)/rnnvoice bench tests/fixtures/spoken_seven_yes.wav --json reports/bench/bench.json --plot reports/bench/bench.png
	$(BIN)/rnnvoice bench tests/fixtures/spoken_seven_yes.wav --tasks keywords --no-compare \
	  --model keywords:gru=models/weights/keywords_gru_log_mels.pt --model keywords:lstm=models/weights/keywords_lstm_log_mels.pt \
	  --json reports/bench/bench_log_mels.json

# The GRU-against-LSTM study (docs/study.md): keyword models of both cells on both front ends (the speech embedding,
# log-mels), trained to convergence, at each width over seeds, a GRU as wide as matches the 128-wide LSTM's
# parameters (147), and learning-curve runs on a share of the real training speakers at one width. Each front end and
# share of speakers has one stream cache, built first (--steps 0), which every cell, width and seed then shares
# (--data-seed). Then `rnnvoice compare --study` measures them all and lists the checkpoints it measured in
# $(STUDY_DIR)/MANIFEST.sha256. The checkpoints are not committed; their histories, cached accuracies and that
# manifest are. A run is done once its .history.json exists (training writes it last), so a fresh clone does not
# retrain the runs committed: their cached accuracies stand for their checkpoints. An interrupted run is started
# again and resumes from its .resume.pt. `make -j2 study`.
STUDY_DIR ?= runs/study_second_edition
STUDY_DATA := --corpus data/kws --data-seed 0 --cached-streams 3000 --threads 1
STUDY_RECIPE ?= --steps 8000 --eval-every 200 --patience 6 --feature-cache $(STUDY_DIR)/features
STUDY_FRONT_END_emb := --front-end speech_embedding
# Log-mels make 33 steps a second to the embedding's 12.5: 4 s streams cost a step what the embedding's 10 s do.
STUDY_FRONT_END_logmel := --front-end log_mels --seconds 4
STUDY_FRONT_ENDS ?= emb logmel
STUDY_SEEDS ?= 0 1 2
STUDY_GRU_WIDTHS ?= 64 128 147 256
STUDY_LSTM_WIDTHS ?= 64 128 256
STUDY_CURVE_WIDTH ?= 128
STUDY_CURVE_PERCENTS ?= 12.5 25 50
STUDY_RUNS := $(foreach e,$(STUDY_FRONT_ENDS),$(foreach s,$(STUDY_SEEDS),\
	$(foreach w,$(STUDY_GRU_WIDTHS),$(e)_gru_w$(w)_s$(s)_f100) $(foreach w,$(STUDY_LSTM_WIDTHS),$(e)_lstm_w$(w)_s$(s)_f100) \
	$(foreach c,gru lstm,$(foreach f,$(STUDY_CURVE_PERCENTS),$(e)_$(c)_w$(STUDY_CURVE_WIDTH)_s$(s)_f$(f)))))
# The recognisers' learning curve: asr_CELL_wWIDTH_sSEED_fPERCENT, the shipped recogniser recipe
# (`TrainConfig.for_task`: the speech embedding, 8,000 steps) on a share of the transcription corpus's real speakers
# (`rnnvoice data --task transcription`, docs/training.md), a stream cache of its own for each share.
STUDY_ASR_CORPUS ?= data/asr
STUDY_ASR_SEEDS ?= 0
STUDY_ASR_WIDTH ?= 192
STUDY_ASR_PERCENTS ?= 12.5 25 50 100
STUDY_ASR_RUNS := $(foreach s,$(STUDY_ASR_SEEDS),$(foreach c,gru lstm,\
	$(foreach f,$(STUDY_ASR_PERCENTS),asr_$(c)_w$(STUDY_ASR_WIDTH)_s$(s)_f$(f))))
study: dev $(STUDY_RUNS:%=$(STUDY_DIR)/%.history.json) $(STUDY_ASR_RUNS:%=$(STUDY_DIR)/%.history.json)
	$(BIN)/rnnvoice compare --study $(STUDY_DIR) --json reports/study/study.json --plots docs/study --corpus data/kws \
		--transcription-corpus $(STUDY_ASR_CORPUS)

# FRONTEND_fPERCENT: the streams of a front end and a share of the real speakers, kept for the next runs.
.PRECIOUS: $(STUDY_DIR)/streams_%.pt
$(STUDY_DIR)/streams_%.pt:
	@mkdir -p $(STUDY_DIR); set -- $$(echo $* | tr _ ' '); echo "caching streams $*"; \
	$(BIN)/rnnvoice train --cell gru --steps 0 $(STUDY_DATA) $(STUDY_FRONT_END_$(word 1,$(subst _, ,$*))) \
		--real-fraction $$(awk "BEGIN { print $${2#f} / 100 }") --stream-cache $@ --out $(STUDY_DIR)/unused.pt \
		> $(STUDY_DIR)/streams_$*.log 2>&1 || { tail -5 $(STUDY_DIR)/streams_$*.log; exit 1; }

# asr_fPERCENT: the recognisers' streams on a share of the real speakers (the more specific pattern wins).
.PRECIOUS: $(STUDY_DIR)/streams_asr_%.pt
$(STUDY_DIR)/streams_asr_%.pt:
	@mkdir -p $(STUDY_DIR); echo "caching streams asr_$*"; \
	$(BIN)/rnnvoice train --task transcription --corpus $(STUDY_ASR_CORPUS) --steps 0 --data-seed 0 --threads 1 \
		--real-fraction $$(awk "BEGIN { print $(patsubst f%,%,$*) / 100 }") --stream-cache $@ --out $(STUDY_DIR)/unused.pt \
		> $(STUDY_DIR)/streams_asr_$*.log 2>&1 || { tail -5 $(STUDY_DIR)/streams_asr_$*.log; exit 1; }

# FRONTEND_CELL_wWIDTH_sSEED_fPERCENT: the run's settings are its name.
.SECONDEXPANSION:
# The stream cache is order-only: a run committed as done stays done on a clone that has to build its cache again.
$(STUDY_DIR)/%.history.json: $$(wildcard $(STUDY_DIR)/%.resume.pt) | $(STUDY_DIR)/streams_$$(word 1,$$(subst _, ,$$*))_$$(word 5,$$(subst _, ,$$*)).pt
	@set -- $$(echo $* | tr _ ' '); echo "training $*"; \
	$(BIN)/rnnvoice train $(STUDY_DATA) $(STUDY_FRONT_END_$(word 1,$(subst _, ,$*))) --cell $$2 --hidden-size $${3#w} --seed $${4#s} \
		--real-fraction $$(awk "BEGIN { print $${5#f} / 100 }") --stream-cache $(STUDY_DIR)/streams_$$1_$$5.pt \
		$(STUDY_RECIPE) --out $(STUDY_DIR)/$*.pt > $(STUDY_DIR)/$*.log 2>&1 || { tail -5 $(STUDY_DIR)/$*.log; exit 1; }

# asr_CELL_wWIDTH_sSEED_fPERCENT: a recogniser of the study (the more specific pattern wins).
$(STUDY_DIR)/asr_%.history.json: $$(wildcard $(STUDY_DIR)/asr_%.resume.pt) | $(STUDY_DIR)/streams_asr_$$(word 4,$$(subst _, ,$$*)).pt
	@set -- $$(echo $* | tr _ ' '); echo "training asr_$*"; \
	$(BIN)/rnnvoice train --task transcription --corpus $(STUDY_ASR_CORPUS) --data-seed 0 --threads 1 --cell $$1 \
		--hidden-size $${2#w} --seed $${3#s} --real-fraction $$(awk "BEGIN { print $${4#f} / 100 }") \
		--stream-cache $(STUDY_DIR)/streams_asr_$$4.pt --out $(STUDY_DIR)/asr_$*.pt > $(STUDY_DIR)/asr_$*.log 2>&1 \
		|| { tail -5 $(STUDY_DIR)/asr_$*.log; exit 1; }
