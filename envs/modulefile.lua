-- One family of the workflow's rules as an environment module (Lmod), for
-- `snakemake --software-deployment-method env-modules` (docs/user_guide.md, "Software on a
-- cluster"): the rules whose envs/<family>.yaml is conda's get `module load contimg/<family>`.
-- Every envs/modules/contimg/<family>.lua is a link to this file (`module use envs/modules`);
-- the family is the module's version part.
--
-- Here the software is this repository's .venv (`make setup`: the lock file's Python packages,
-- CASA with its offline data, this package) with Debian's wsclean and aoflagger in /usr/bin.
-- A site that provides WSClean, AOFlagger or CASA as modules of its own loads them here, e.g.
-- depends_on("wsclean/3.1"), and points PATH at its own environment instead of the .venv.
local family = myModuleVersion()
local root = myFileName():match("^(.*)/envs/modules/")
local python = pathJoin(root, ".venv", "bin", "python")
local tools = { imaging = "/usr/bin/wsclean", conversion = "/usr/bin/aoflagger" }

if not isFile(python) then
    LmodError("contimg/" .. family .. ": " .. python .. " is missing (run make setup in " .. root .. ")")
end
if tools[family] and not isFile(tools[family]) then
    LmodError("contimg/" .. family .. ": " .. tools[family] .. " is missing (make setup installs it)")
end

whatis("Name: contimg/" .. family)
whatis("Description: the software of the workflow's " .. family .. " rules (envs/" .. family .. ".yaml)")
prepend_path("PATH", pathJoin(root, ".venv", "bin"))
setenv("CONTIMG_SOFTWARE", family)
if mode() == "load" then
    LmodMessage("contimg/" .. family .. " loaded: " .. python)
end
