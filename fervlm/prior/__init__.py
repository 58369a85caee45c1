"""The offline FACS vision-language prior: its corpus (`corpus`), captions written from Action Units
(`captions`) and what a prior knows (`evaluate`). Training is `fervlm.pretrain` (`fervlm pretrain`)."""
