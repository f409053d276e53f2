package localcloud

import (
	"time"
)

var oosActions = map[string]actionFunc{
	"CreateSecretParameter": oosCreate,
	"DeleteSecretParameter": oosDelete,
	"GetSecretParameter":    oosGet,
}

func secretView(p *secretParam, withValue bool) map[string]any {
	v := map[string]any{
		"Name": p.Name, "Id": p.ID, "Type": "Secret", "ParameterVersion": p.Version, "Description": p.Description,
		"CreatedDate": isoTime(p.Created), "UpdatedDate": isoTime(p.Created), "KeyId": "alias/acs/oos",
		"ShareType": "Private", "Constraints": "", "Tags": map[string]any{},
	}
	if withValue {
		v["Value"] = p.Value
	}
	return v
}

func oosCreate(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	name, e := q.req("Name")
	if e != nil {
		return nil, e
	}
	value, e := q.req("Value")
	if e != nil {
		return nil, e
	}
	if len(name) > 200 || name[0] == '/' && len(name) == 1 {
		return nil, invalid("Name", name)
	}
	if len(value) > 65536 {
		return nil, badRequest("InvalidParameter.Value", "The secret value exceeds 64 KB.")
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	k := region + "/" + name
	if _, ok := st.secrets[k]; ok {
		return nil, badRequest("EntityAlreadyExists.Parameter", "The parameter %s already exists.", name)
	}
	p := &secretParam{Name: name, Region: region, Value: value, Description: q.get("Description"),
		ID: "p-" + randHex(12), Version: 1, Created: time.Now()}
	st.secrets[k] = p
	return map[string]any{"Parameter": secretView(p, false)}, nil
}

func oosDelete(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	name, e := q.req("Name")
	if e != nil {
		return nil, e
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.secrets[region+"/"+name]; !ok {
		return nil, notFound("EntityNotExists.Parameter", "The parameter %s does not exist in region %s.", name, region)
	}
	delete(st.secrets, region+"/"+name)
	return map[string]any{}, nil
}

func oosGet(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	name, e := q.req("Name")
	if e != nil {
		return nil, e
	}
	dec, e := q.bool("WithDecryption")
	if e != nil {
		return nil, e
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	p, ok := st.secrets[region+"/"+name]
	if !ok {
		return nil, notFound("EntityNotExists.Parameter", "The parameter %s does not exist in region %s.", name, region)
	}
	return map[string]any{"Parameter": secretView(p, dec)}, nil
}
